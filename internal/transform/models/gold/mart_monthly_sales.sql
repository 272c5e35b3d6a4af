-- description: Sales per Brazilian business month (local purchase date, America/Sao_Paulo), one row per month from the first to the last month with sales, months without sales included with zeros. Counts orders that are sales (gold.fact_sales.is_sale: status not canceled and not unavailable) and have items; payments of orders without items are not included. The months with sales come from gold.agg_sales_month (built by month).
-- materialized: table
-- key: month
-- column month: First day of the month (local calendar).
-- column year: Year.
-- column month_number: Month number, 1-12.
-- column orders: Distinct orders counted as sales.
-- column items: Units sold (order items).
-- column revenue: Sum of item prices, R$ (freight excluded).
-- column freight: Sum of item freight, R$.
-- column payment_value: Sum of the payments allocated to the items, R$.
-- column customers: Distinct persons (customer_unique_id) who bought.
-- column avg_order_value: payment_value / orders, R$ 2 decimals; NULL in a month without orders.
WITH months AS (
    -- every month from the first to the last with sales, so a month without sales shows as zeros
    SELECT CAST(ts AS DATE) AS month
    FROM (SELECT unnest(generate_series(CAST(min(month) AS TIMESTAMP), CAST(max(month) AS TIMESTAMP), INTERVAL 1 MONTH)) AS ts
          FROM ref('gold.agg_sales_month'))
)
SELECT
    m.month,
    CAST(year(m.month) AS INTEGER) AS year,
    CAST(month(m.month) AS INTEGER) AS month_number,
    coalesce(p.orders, 0) AS orders,
    coalesce(p.items, 0) AS items,
    CAST(coalesce(p.revenue, 0) AS DECIMAL(18,2)) AS revenue,
    CAST(coalesce(p.freight, 0) AS DECIMAL(18,2)) AS freight,
    CAST(coalesce(p.payment_value, 0) AS DECIMAL(18,2)) AS payment_value,
    coalesce(p.customers, 0) AS customers,
    CASE WHEN p.orders > 0 THEN CAST(p.payment_value / p.orders AS DECIMAL(12,2)) END AS avg_order_value
FROM months AS m
LEFT JOIN ref('gold.agg_sales_month') AS p USING (month)
