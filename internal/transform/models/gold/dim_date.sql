-- description: One row per calendar day (Brazilian local calendar) from the earliest to the latest local date found in orders (purchase, approval, carrier, delivery, estimate) and reviews (creation, answer), without gaps. Month and day names are in English.
-- materialized: table
-- key: date_id
-- column date_id: The date as an integer yyyymmdd.
-- column date: The calendar date.
-- column year: Year.
-- column quarter: Quarter, 1-4.
-- column month: Month number, 1-12.
-- column month_name: Month name in English (January ...).
-- column day: Day of month.
-- column day_of_week: ISO day of week, 1 = Monday ... 7 = Sunday.
-- column day_name: Day name in English (Monday ...).
-- column is_weekend: TRUE on Saturday and Sunday.
WITH instants AS (
    -- UTC instants whose Brazilian local date counts
    SELECT order_approved_at AS t FROM ref('silver.orders')
    UNION ALL SELECT order_delivered_carrier_date FROM ref('silver.orders')
    UNION ALL SELECT review_answer_timestamp FROM ref('silver.order_reviews')
),
instant_bounds AS (
    SELECT min(t) AS lo, max(t) AS hi FROM instants
),
local_dates AS (
    SELECT purchase_date AS d FROM ref('silver.orders')
    UNION ALL SELECT delivered_date FROM ref('silver.orders')
    UNION ALL SELECT estimated_date FROM ref('silver.orders')
    UNION ALL SELECT review_date FROM ref('silver.order_reviews')
    -- Converting every instant to local time was most of this model's cost; only
    -- instants within two days of the earliest or the latest can have the
    -- earliest or latest local date (a zone's UTC offset varies by hours).
    UNION ALL SELECT CAST(timezone('America/Sao_Paulo', t) AS DATE)
    FROM instants, instant_bounds
    WHERE t < lo + INTERVAL 2 DAY OR t > hi - INTERVAL 2 DAY
),
bounds AS (
    SELECT min(d) AS lo, max(d) AS hi FROM local_dates
),
days AS (
    SELECT CAST(ts AS DATE) AS date
    FROM (SELECT unnest(generate_series(CAST(lo AS TIMESTAMP), CAST(hi AS TIMESTAMP), INTERVAL 1 DAY)) AS ts FROM bounds)
)
SELECT
    CAST(strftime(date, '%Y%m%d') AS INTEGER) AS date_id,
    date,
    CAST(year(date) AS INTEGER) AS year,
    CAST(quarter(date) AS INTEGER) AS quarter,
    CAST(month(date) AS INTEGER) AS month,
    strftime(date, '%B') AS month_name,
    CAST(day(date) AS INTEGER) AS day,
    CAST(isodow(date) AS INTEGER) AS day_of_week,
    strftime(date, '%A') AS day_name,
    isodow(date) IN (6, 7) AS is_weekend
FROM days
