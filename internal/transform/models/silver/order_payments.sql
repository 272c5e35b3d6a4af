-- description: One row per payment of an order (vouchers make several per order); exact duplicate records removed. The sum of an order's payment_value is what Gold allocates to the order's items.
-- materialized: table
-- key: order_id, payment_sequential
-- column order_id: Order id.
-- column payment_sequential: Sequence of the payment within the order.
-- column payment_type: credit_card, boleto, voucher, debit_card, not_defined (trimmed, lower case).
-- column payment_installments: Number of installments (0 occurs in the source).
-- column payment_value: Amount paid in R$, DECIMAL(12,2).
-- column _source_file: Source CSV file of the Bronze record.
-- column _source_line: Line of the record in the source file.
SELECT
    trim(order_id) AS order_id,
    payment_sequential,
    lower(trim(payment_type)) AS payment_type,
    payment_installments,
    CAST(payment_value AS DECIMAL(12,2)) AS payment_value,
    _source_file,
    _source_line
FROM source('bronze.order_payments')
QUALIFY row_number() OVER (
    PARTITION BY order_id, payment_sequential, payment_type, payment_installments, payment_value
    ORDER BY _source_line) = 1
