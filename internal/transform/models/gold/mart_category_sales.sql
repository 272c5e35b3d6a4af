-- description: Sales per product category over the whole period. Counts orders that are sales (status not canceled and not unavailable) with items. Categories missing from the translation keep their Portuguese name in category_en; products without category are grouped as 'unknown', so the shares add up to 1.
-- materialized: table
-- key: category_en, category_pt
-- column category_en: Category in English (Portuguese name when untranslated, 'unknown' when none).
-- column category_pt: Category in Portuguese ('unknown' when none).
-- column orders: Distinct orders with at least one item of the category.
-- column items: Units sold.
-- column revenue: Sum of item prices, R$ (freight excluded).
-- column freight: Sum of item freight, R$.
-- column payment_value: Sum of the payments allocated to the items, R$.
-- column revenue_share: revenue / total revenue of all categories, 6 decimals.
WITH per_cat AS (
    SELECT
        coalesce(p.category_en, 'unknown') AS category_en,
        coalesce(p.category_pt, 'unknown') AS category_pt,
        count(DISTINCT f.order_id) AS orders,
        count(*) AS items,
        CAST(sum(f.price) AS DECIMAL(18,2)) AS revenue,
        CAST(sum(f.freight_value) AS DECIMAL(18,2)) AS freight,
        CAST(sum(f.payment_value) AS DECIMAL(18,2)) AS payment_value
    FROM ref('gold.fact_sales') AS f
    LEFT JOIN ref('gold.dim_product') AS p ON p.product_id = f.product_id
    WHERE f.is_sale
    GROUP BY 1, 2
)
SELECT
    category_en,
    category_pt,
    orders,
    items,
    revenue,
    freight,
    payment_value,
    CAST(CASE WHEN sum(revenue) OVER () > 0 THEN revenue / sum(revenue) OVER () END AS DECIMAL(9,6)) AS revenue_share
FROM per_cat
