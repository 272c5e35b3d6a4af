-- description: Sales per order & day <with markup to escape>. One row per order.
-- key: order_id
-- column order_id: Order id.
-- column purchase_date: Business date.
-- column is_open: TRUE while the order is not delivered.
SELECT
    o.order_id,
    o.purchase_date,
    o.order_status <> 'delivered' AS is_open
FROM ref('silver.orders') AS o
WHERE o.order_id IS NOT NULL
