-- description: Sales per product category and Brazilian business month (local purchase date, America/Sao_Paulo): the monthly detail that gold.mart_category_sales adds up. Counts orders that are sales (status not canceled and not unavailable) with items; a category has a row for each month it sold in. Categories missing from the translation keep their Portuguese name in category_en; products without category are grouped as 'unknown'. Built by month: a drop rebuilds the months its sales are in, not the whole period.
-- materialized: table
-- key: category_en, category_pt, month
-- incremental: month
-- incremental_expr: gold.fact_sales: CAST(date_trunc('month', purchase_date) AS DATE)
-- incremental_map: product_id: SELECT product_id, CAST(date_trunc('month', purchase_date) AS DATE) AS month FROM ref('gold.fact_sales')
-- column category_en: Category in English (Portuguese name when untranslated, 'unknown' when none).
-- column category_pt: Category in Portuguese ('unknown' when none).
-- column month: First day of the month (local calendar).
-- column orders: Distinct orders with at least one item of the category in the month.
-- column items: Units sold.
-- column revenue: Sum of item prices, R$ (freight excluded).
-- column freight: Sum of item freight, R$.
-- column payment_value: Sum of the payments allocated to the items, R$: the known ones (a sale flagged payment_recorded in gold.fact_sales, whose payment_value is NULL, adds nothing).
SELECT
    coalesce(p.category_en, 'unknown') AS category_en,
    coalesce(p.category_pt, 'unknown') AS category_pt,
    CAST(date_trunc('month', f.purchase_date) AS DATE) AS month,
    count(DISTINCT f.order_id) AS orders,
    count(*) AS items,
    CAST(sum(f.price) AS DECIMAL(18,2)) AS revenue,
    CAST(sum(f.freight_value) AS DECIMAL(18,2)) AS freight,
    CAST(coalesce(sum(f.payment_value), 0) AS DECIMAL(18,2)) AS payment_value
FROM ref('gold.fact_sales') AS f
-- The category as silver.products gives it (gold.dim_product copies it):
-- dim_product's rows change with every drop's reviews and sales, which
-- would rebuild every month a reviewed product ever sold in.
LEFT JOIN ref('silver.products') AS p ON p.product_id = f.product_id
WHERE f.is_sale
GROUP BY 1, 2, 3
