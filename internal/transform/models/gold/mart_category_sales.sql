-- description: Sales per product category over the whole period: gold.mart_category_month_sales added up. Counts orders that are sales (status not canceled and not unavailable) with items. Categories missing from the translation keep their Portuguese name in category_en; products without category are grouped as 'unknown', so the shares add up to 1.
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
    -- An order is in one month: its orders add up over the months.
    SELECT
        category_en,
        category_pt,
        CAST(sum(orders) AS BIGINT) AS orders,
        CAST(sum(items) AS BIGINT) AS items,
        CAST(sum(revenue) AS DECIMAL(18,2)) AS revenue,
        CAST(sum(freight) AS DECIMAL(18,2)) AS freight,
        CAST(sum(payment_value) AS DECIMAL(18,2)) AS payment_value
    FROM ref('gold.mart_category_month_sales')
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
