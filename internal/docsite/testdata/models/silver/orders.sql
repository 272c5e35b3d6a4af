-- description: One row per order, cleaned. Timestamps in UTC.
-- partition_by: purchase_date
-- key: order_id
-- column order_id: Order id.
-- column order_status: Status, lower-cased.
-- column purchase_date: Brazilian business date of the purchase.
SELECT
    order_id,
    lower(order_status) AS order_status,
    CAST(order_purchase_timestamp AS DATE) AS purchase_date
FROM source('bronze.orders')
