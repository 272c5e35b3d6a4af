-- description: One row per product with its category (Portuguese and English, falling back to the Portuguese name when the translation is missing, 'unknown' when the product has no category), dimensions and review statistics. Reviews reach products through the fact grain: review -> order -> the order's items; a review counts once per distinct product of its order, however many units of it the order has.
-- materialized: table
-- key: product_id
-- incremental: product_id
-- incremental_map: order_id: SELECT order_id, product_id FROM ref('silver.order_items')
-- column product_id: Product id.
-- column category_pt: Category in Portuguese; 'unknown' when the product has none.
-- column category_en: Category in English; the Portuguese name when untranslated; 'unknown' when none.
-- column category_is_translated: TRUE when category_en comes from the translation table.
-- column product_name_length: Characters in the product name.
-- column product_description_length: Characters in the description.
-- column product_photos_qty: Number of photos.
-- column product_weight_g: Weight in grams.
-- column product_length_cm: Length in cm.
-- column product_height_cm: Height in cm.
-- column product_width_cm: Width in cm.
-- column product_review_avg: Average review score of the orders containing the product, 2 decimals; NULL when never reviewed.
-- column product_review_count: Reviews of orders containing the product (each review once per product).
WITH review_product AS (
    SELECT DISTINCT r.review_id, r.order_id, r.review_score, i.product_id
    FROM ref('silver.order_reviews') AS r
    JOIN ref('silver.order_items') AS i ON i.order_id = r.order_id
),
stats AS (
    SELECT
        product_id,
        CAST(avg(review_score) AS DECIMAL(4,2)) AS product_review_avg,
        count(*) AS product_review_count
    FROM review_product
    GROUP BY product_id
)
SELECT
    p.product_id,
    p.category_pt,
    p.category_en,
    p.category_is_translated,
    p.product_name_length,
    p.product_description_length,
    p.product_photos_qty,
    p.product_weight_g,
    p.product_length_cm,
    p.product_height_cm,
    p.product_width_cm,
    s.product_review_avg,
    coalesce(s.product_review_count, 0) AS product_review_count
FROM ref('silver.products') AS p
LEFT JOIN stats AS s USING (product_id)
