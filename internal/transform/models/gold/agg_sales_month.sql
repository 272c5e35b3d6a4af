-- description: Sales per Brazilian business month (local purchase date, America/Sao_Paulo), for the months that had sales: gold.mart_monthly_sales adds the months without sales. Counts orders that are sales (status not canceled and not unavailable) with items. Built by month: a drop rebuilds the months its sales are in, not the whole period.
-- materialized: table
-- key: month
-- incremental: month
-- incremental_expr: gold.fact_sales: CAST(date_trunc('month', purchase_date) AS DATE)
-- column month: First day of the month (local calendar).
-- column orders: Distinct orders counted as sales.
-- column items: Units sold (order items).
-- column revenue: Sum of item prices, R$ (freight excluded).
-- column freight: Sum of item freight, R$.
-- column payment_value: Sum of the payments allocated to the items, R$: the known ones (a sale flagged payment_recorded in gold.fact_sales, whose payment_value is NULL, adds nothing).
-- column customers: Distinct persons (customer_unique_id) who bought.
SELECT
    CAST(date_trunc('month', purchase_date) AS DATE) AS month,
    count(DISTINCT order_id) AS orders,
    count(*) AS items,
    CAST(sum(price) AS DECIMAL(18,2)) AS revenue,
    CAST(sum(freight_value) AS DECIMAL(18,2)) AS freight,
    CAST(coalesce(sum(payment_value), 0) AS DECIMAL(18,2)) AS payment_value,
    count(DISTINCT customer_unique_id) AS customers
FROM ref('gold.fact_sales')
WHERE is_sale
GROUP BY 1
