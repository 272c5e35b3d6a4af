-- description: One row per review of an order, (review_id, order_id) as deduplicated in silver.order_reviews (same pair repeated: latest answer kept). The review date is the Brazilian local date the survey was sent; response_hours is measured on UTC instants, so a DST change between creation and answer is accounted for.
-- materialized: table
-- partition_by: review_date
-- key: review_id, order_id
-- incremental: order_id
-- incremental_map: customer_id: SELECT customer_id, order_id FROM ref('silver.orders')
-- column review_id: Review id (reused across orders in the source).
-- column order_id: Reviewed order.
-- column customer_unique_id: The person who reviewed (key of gold.dim_customer); NULL when the order is unknown.
-- column date_id: Brazilian local date of review creation as yyyymmdd (key of gold.dim_date).
-- column review_date: Brazilian local date of review creation; the partition key.
-- column review_score: 1 to 5 stars.
-- column has_comment: TRUE when the review has a non-empty title or message.
-- column review_creation_date: When the survey was sent, UTC.
-- column review_answer_timestamp: When the customer answered, UTC.
-- column response_hours: Hours from creation to answer on UTC instants, 2 decimals.
SELECT
    r.review_id,
    r.order_id,
    c.customer_unique_id,
    CAST(strftime(r.review_date, '%Y%m%d') AS INTEGER) AS date_id,
    r.review_date,
    r.review_score,
    (r.review_comment_title IS NOT NULL OR r.review_comment_message IS NOT NULL) AS has_comment,
    r.review_creation_date,
    r.review_answer_timestamp,
    CAST((epoch_us(r.review_answer_timestamp) - epoch_us(r.review_creation_date)) / 3600e6 AS DECIMAL(9,2)) AS response_hours
FROM ref('silver.order_reviews') AS r
LEFT JOIN ref('silver.orders') AS o ON o.order_id = r.order_id
LEFT JOIN ref('silver.customers') AS c ON c.customer_id = o.customer_id
