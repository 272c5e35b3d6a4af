-- description: Sales per customer state and Brazilian business month (local purchase date, America/Sao_Paulo): the sums and delivery counts that gold.mart_state_sales adds up. The state is the one given on each order (gold.fact_sales.customer_state). Counts orders that are sales (status not canceled and not unavailable) with items. Built by month: a drop rebuilds the months its sales are in, not the whole period.
-- materialized: table
-- key: customer_state, month
-- incremental: month
-- incremental_expr: gold.fact_sales: CAST(date_trunc('month', purchase_date) AS DATE)
-- column customer_state: Two-letter state (UF) given on the orders.
-- column month: First day of the month (local calendar).
-- column orders: Orders counted as sales.
-- column items: Units sold.
-- column revenue: Sum of item prices, R$ (freight excluded).
-- column freight: Sum of item freight, R$.
-- column payment_value: Sum of the payments allocated to the items, R$: the known ones (a sale flagged payment_recorded in gold.fact_sales, whose payment_value is NULL, adds nothing).
-- column delivered_orders: Orders with a delivery time (delivered, and not flagged delivered_after_purchase, which nulls it).
-- column delivery_days: Sum of the days from purchase to delivery over the delivered orders.
-- column timed_orders: Orders whose lateness is known (is_late not NULL).
-- column late_orders: Orders that arrived after the promised local date.
WITH per_order AS (
    -- An order has one state and one purchase date: the per-order values
    -- of its items are the order's.
    SELECT
        f.order_id,
        any_value(f.customer_state) AS customer_state,
        any_value(CAST(date_trunc('month', f.purchase_date) AS DATE)) AS month,
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
    month,
    count(*) AS orders,
    CAST(sum(items) AS BIGINT) AS items,
    CAST(sum(revenue) AS DECIMAL(18,2)) AS revenue,
    CAST(sum(freight) AS DECIMAL(18,2)) AS freight,
    CAST(coalesce(sum(payment_value), 0) AS DECIMAL(18,2)) AS payment_value,
    count(delivery_days) AS delivered_orders,
    CAST(sum(delivery_days) AS DECIMAL(18,2)) AS delivery_days,
    count(is_late) AS timed_orders,
    count(*) FILTER (WHERE is_late) AS late_orders
FROM per_order
GROUP BY customer_state, month
