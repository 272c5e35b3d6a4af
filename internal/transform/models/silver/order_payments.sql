-- description: One row per payment of an order (vouchers make several per order); exact duplicate records removed. The sum of an order's payment_value is what Gold allocates to the order's items.
-- materialized: table
-- key: order_id, payment_sequential
-- incremental: order_id
-- column order_id: Order id.
-- column payment_sequential: Sequence of the payment within the order.
-- column payment_type: credit_card, boleto, voucher, debit_card, not_defined (trimmed, lower case).
-- column payment_installments: Number of installments (0 occurs in the source).
-- column payment_value: Amount paid in R$, DECIMAL(12,2).
-- column _source_file: Source CSV file of the Bronze record.
-- column _source_line: Line of the record in the source file.
-- column _batch: Landing-zone batch (dt= folder date) the row's state came in; NULL for a source of plain files.
-- batches: Latest state per key (order_id, payment_sequential): the last line of the newest landing-zone batch (_batch) that holds the key; older versions stay in Bronze. From plain files, conflicting rows of one key are duplicate keys (quarantined).
WITH latest AS (
    -- Latest state per key: in a landing zone, the last line of the newest batch
    -- that holds the key (a batch is an export of changes, in order); from plain
    -- files, every row (exact duplicates go below, conflicting ones to the
    -- quarantine as duplicate keys). Rows without a key all stay: the gate
    -- quarantines them, nothing vanishes here.
    SELECT *
    FROM source('bronze.order_payments')
    QUALIFY order_id IS NULL OR payment_sequential IS NULL
        OR (_batch IS NULL AND max(_batch) OVER (PARTITION BY trim(order_id), payment_sequential) IS NULL)
        OR (_batch IS NOT NULL AND row_number() OVER (PARTITION BY trim(order_id), payment_sequential ORDER BY _batch DESC, _source_line DESC) = 1)
)
SELECT
    trim(order_id) AS order_id,
    payment_sequential,
    lower(trim(payment_type)) AS payment_type,
    payment_installments,
    CAST(payment_value AS DECIMAL(12,2)) AS payment_value,
    _source_file,
    _source_line,
    _batch
FROM latest
QUALIFY row_number() OVER (
    PARTITION BY order_id, payment_sequential, payment_type, payment_installments, payment_value
    ORDER BY _source_line) = 1
