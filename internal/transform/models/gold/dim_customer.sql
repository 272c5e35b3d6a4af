-- description: One row per person (customer_unique_id); the source's customer_id is per order. City, state and zip are those of the person's most recent order (ties: highest customer_id), with lat/lng of that zip prefix from silver.geolocation (NULL when the prefix has no point in Brazil). Customer lifetime value is the sum of Silver payments of the person's orders that count as sales (status not canceled and not unavailable), including orders without items.
-- materialized: table
-- key: customer_unique_id
-- incremental: customer_unique_id
-- incremental_map: customer_id: SELECT customer_id, customer_unique_id FROM ref('silver.customers')
-- incremental_map: order_id: SELECT o.order_id, c.customer_unique_id FROM ref('silver.orders') AS o JOIN ref('silver.customers') AS c USING (customer_id)
-- incremental_lookup: silver.geolocation.zip_code_prefix -> customer_zip_code_prefix
-- column customer_unique_id: The person.
-- column customer_zip_code_prefix: Zip prefix of the person's most recent order.
-- column customer_city: City of the most recent order, as typed.
-- column customer_city_normalized: Normalized city of the most recent order (lower case, accents folded).
-- column customer_state: State of the most recent order.
-- column geolocation_lat: Median latitude of the zip prefix (silver.geolocation); NULL when unknown.
-- column geolocation_lng: Median longitude of the zip prefix (silver.geolocation); NULL when unknown.
-- column first_order_at: First order placed, UTC (any status).
-- column last_order_at: Last order placed, UTC (any status).
-- column first_order_date: Brazilian local date of the first order.
-- column last_order_date: Brazilian local date of the last order.
-- column order_count: Orders placed (any status).
-- column sales_order_count: Orders that count as sales (status not canceled and not unavailable).
-- column customer_lifetime_value: Sum of payments (R$) of the person's orders that count as sales; 0.00 when none.
WITH cust_orders AS (
    SELECT
        c.customer_unique_id,
        c.customer_id,
        c.customer_zip_code_prefix,
        c.customer_city,
        c.customer_city_normalized,
        c.customer_state,
        o.order_id,
        o.order_purchase_timestamp,
        o.purchase_date,
        o.is_sale
    FROM ref('silver.customers') AS c
    LEFT JOIN ref('silver.orders') AS o ON o.customer_id = c.customer_id
),
latest AS (
    SELECT *
    FROM cust_orders
    QUALIFY row_number() OVER (
        PARTITION BY customer_unique_id
        ORDER BY order_purchase_timestamp DESC NULLS LAST, customer_id DESC) = 1
),
order_pay AS (
    SELECT order_id, sum(payment_value) AS paid
    FROM ref('silver.order_payments')
    -- Only the orders of the persons built: an incremental build rebuilds a
    -- few, and summed every order's payments first (0.2 s at scale 10).
    WHERE order_id IN (SELECT order_id FROM cust_orders)
    GROUP BY order_id
),
stats AS (
    SELECT
        co.customer_unique_id,
        min(co.order_purchase_timestamp) AS first_order_at,
        max(co.order_purchase_timestamp) AS last_order_at,
        min(co.purchase_date) AS first_order_date,
        max(co.purchase_date) AS last_order_date,
        count(DISTINCT co.order_id) AS order_count,
        count(DISTINCT co.order_id) FILTER (WHERE co.is_sale) AS sales_order_count,
        CAST(coalesce(sum(p.paid) FILTER (WHERE co.is_sale), 0) AS DECIMAL(18,2)) AS customer_lifetime_value
    FROM cust_orders AS co
    LEFT JOIN order_pay AS p ON p.order_id = co.order_id
    GROUP BY co.customer_unique_id
)
SELECT
    l.customer_unique_id,
    l.customer_zip_code_prefix,
    l.customer_city,
    l.customer_city_normalized,
    l.customer_state,
    g.geolocation_lat,
    g.geolocation_lng,
    s.first_order_at,
    s.last_order_at,
    s.first_order_date,
    s.last_order_date,
    s.order_count,
    s.sales_order_count,
    s.customer_lifetime_value
FROM latest AS l
JOIN stats AS s USING (customer_unique_id)
LEFT JOIN ref('silver.geolocation') AS g ON g.zip_code_prefix = l.customer_zip_code_prefix
