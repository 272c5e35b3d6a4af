-- description: One row per customer_id (that is, per order; exact duplicate records removed). customer_unique_id is the person. Strings trimmed, zip prefix left-padded to 5 digits, state upper-cased, city kept as typed plus a normalized form (lower case, accents folded, whitespace collapsed) for grouping and joins.
-- materialized: table
-- key: customer_id
-- incremental: customer_id
-- column customer_id: Customer id; one per order.
-- column customer_unique_id: The person; repeats for repeat buyers. Gold's customer key.
-- column customer_zip_code_prefix: First 5 digits of the zip code as a string, left-padded with '0' when shorter.
-- column customer_city: City as in the source, trimmed.
-- column customer_city_normalized: City in lower case, accents folded (strip_accents), inner whitespace collapsed to one space.
-- column customer_state: Two-letter state (UF), upper case.
-- column _source_file: Source CSV file of the Bronze record.
-- column _source_line: Line of the record in the source file.
-- column _batch: Landing-zone batch (dt= folder date) the row's state came in; NULL for a source of plain files.
-- batches: Latest state per key (customer_id): the last line of the newest landing-zone batch (_batch) that holds the key; older versions stay in Bronze. From plain files, conflicting rows of one key are duplicate keys (quarantined).
WITH latest AS (
    -- Latest state per key: in a landing zone, the last line of the newest batch
    -- that holds the key (a batch is an export of changes, in order); from plain
    -- files, every row (exact duplicates go below, conflicting ones to the
    -- quarantine as duplicate keys). Rows without a key all stay: the gate
    -- quarantines them, nothing vanishes here.
    SELECT *
    FROM source('bronze.customers')
    QUALIFY customer_id IS NULL
        OR (_batch IS NULL AND max(_batch) OVER (PARTITION BY trim(customer_id)) IS NULL)
        OR (_batch IS NOT NULL AND row_number() OVER (PARTITION BY trim(customer_id) ORDER BY _batch DESC, _source_line DESC) = 1)
),
src AS (
    SELECT *
    FROM latest
    QUALIFY row_number() OVER (
        PARTITION BY customer_id, customer_unique_id, customer_zip_code_prefix, customer_city, customer_state
        ORDER BY _source_line) = 1
)
SELECT
    trim(customer_id) AS customer_id,
    trim(customer_unique_id) AS customer_unique_id,
    CASE WHEN length(trim(customer_zip_code_prefix)) < 5 THEN lpad(trim(customer_zip_code_prefix), 5, '0')
         ELSE trim(customer_zip_code_prefix) END AS customer_zip_code_prefix,
    NULLIF(trim(customer_city), '') AS customer_city,
    NULLIF(regexp_replace(lower(strip_accents(trim(customer_city))), '\s+', ' ', 'g'), '') AS customer_city_normalized,
    NULLIF(upper(trim(customer_state)), '') AS customer_state,
    _source_file,
    _source_line,
    _batch
FROM src
