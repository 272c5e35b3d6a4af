-- description: Sales per customer state, where the state is the one given on each order (gold.fact_sales.customer_state), not the person's latest state. Counts orders that are sales (status not canceled and not unavailable) with items. Delivery averages are taken per order (not per item), over delivered orders. Adds up gold.agg_sales_state_month (built by month) and counts gold.agg_state_customers (built by person).
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
WITH sales AS (
    -- An order is in one month: the months add up.
    SELECT
        customer_state,
        CAST(sum(orders) AS BIGINT) AS orders,
        CAST(sum(items) AS BIGINT) AS items,
        CAST(sum(revenue) AS DECIMAL(18,2)) AS revenue,
        CAST(sum(freight) AS DECIMAL(18,2)) AS freight,
        CAST(sum(payment_value) AS DECIMAL(18,2)) AS payment_value,
        sum(delivery_days) AS delivery_days,
        sum(delivered_orders) AS delivered_orders,
        sum(late_orders) AS late_orders,
        sum(timed_orders) AS timed_orders
    FROM ref('gold.agg_sales_state_month')
    GROUP BY customer_state
),
persons AS (
    SELECT customer_state, count(customer_unique_id) AS customers
    FROM ref('gold.agg_state_customers')
    GROUP BY customer_state
)
SELECT
    s.customer_state,
    s.orders,
    coalesce(p.customers, 0) AS customers,
    s.items,
    s.revenue,
    s.freight,
    s.payment_value,
    -- Divided as avg() over the orders divides, so the averages are those of
    -- the orders themselves to the last bit: avg() of a DECIMAL(9,2) divides
    -- its sum in cents (an exact integer) by count * 100, and avg() of the
    -- 1.0/0.0 flags their sum in tenths by count * 10.
    -- NULL when none (0 / 0 is NaN in double).
    CASE WHEN s.delivered_orders > 0 THEN
        CAST(CAST(s.delivery_days * 100 AS DOUBLE) / (CAST(s.delivered_orders AS DOUBLE) * 100.0) AS DECIMAL(9,2)) END AS avg_delivery_days,
    CASE WHEN s.timed_orders > 0 THEN
        CAST(CAST(s.late_orders * 10 AS DOUBLE) / (CAST(s.timed_orders AS DOUBLE) * 10.0) AS DECIMAL(7,4)) END AS late_share
FROM sales AS s
LEFT JOIN persons AS p ON p.customer_state IS NOT DISTINCT FROM s.customer_state
