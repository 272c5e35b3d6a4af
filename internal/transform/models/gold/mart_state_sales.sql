-- description: Sales per customer state, where the state is the one given on each order (gold.fact_sales.customer_state), not the person's latest state. Counts orders that are sales (status not canceled and not unavailable) with items. Delivery averages are taken per order (not per item), over delivered orders.
-- materialized: table
-- key: customer_state
-- column customer_state: Two-letter state (UF) of the order's customer.
-- column orders: Distinct orders counted as sales.
-- column customers: Distinct persons (customer_unique_id).
-- column items: Units sold.
-- column revenue: Sum of item prices, R$ (freight excluded).
-- column freight: Sum of item freight, R$.
-- column payment_value: Sum of the payments allocated to the items, R$.
-- column avg_delivery_days: Average days from purchase to delivery over the state's delivered orders, 2 decimals; NULL when none delivered.
-- column late_share: Share of delivered orders that arrived after the promised local date, 4 decimals; NULL when none delivered.
WITH per_order AS (
    SELECT
        f.order_id,
        any_value(f.customer_state) AS customer_state,
        any_value(f.customer_unique_id) AS customer_unique_id,
        count(*) AS items,
        sum(f.price) AS revenue,
        sum(f.freight_value) AS freight,
        sum(f.payment_value) AS payment_value,
        any_value(f.delivery_days) AS delivery_days,
        any_value(f.is_late) AS is_late
    FROM ref('gold.fact_sales') AS f
    WHERE f.is_sale
    GROUP BY f.order_id
)
SELECT
    customer_state,
    count(order_id) AS orders,
    count(DISTINCT customer_unique_id) AS customers,
    CAST(sum(items) AS BIGINT) AS items,
    CAST(sum(revenue) AS DECIMAL(18,2)) AS revenue,
    CAST(sum(freight) AS DECIMAL(18,2)) AS freight,
    CAST(sum(payment_value) AS DECIMAL(18,2)) AS payment_value,
    CAST(avg(delivery_days) AS DECIMAL(9,2)) AS avg_delivery_days,
    CAST(avg(CASE WHEN is_late THEN 1.0 WHEN NOT is_late THEN 0.0 END) AS DECIMAL(7,4)) AS late_share
FROM per_order
GROUP BY customer_state
