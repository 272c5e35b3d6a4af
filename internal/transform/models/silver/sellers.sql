-- description: One row per seller (exact duplicate records removed). Seller cities are typed by sellers and dirty (a zip code, 'sbc/sp', an e-mail address, 'city, state, country'): the original is kept trimmed, a normalized form is added, and seller_city_is_valid flags values that cannot be a plain city name.
-- materialized: table
-- key: seller_id
-- incremental: seller_id
-- column seller_id: Seller id.
-- column seller_zip_code_prefix: First 5 digits of the zip code as a string, left-padded with '0' when shorter.
-- column seller_city: City as typed by the seller, trimmed.
-- column seller_city_normalized: City in lower case, accents folded (strip_accents), inner whitespace collapsed to one space.
-- column seller_city_is_valid: FALSE when the city is empty or contains a digit or one of @ / \ , ; ( ) (a zip code, an e-mail, 'sbc/sp', 'city, state, country'); TRUE otherwise.
-- column seller_state: Two-letter state (UF), upper case.
-- column _source_file: Source CSV file of the Bronze record.
-- column _source_line: Line of the record in the source file.
-- column _batch: Landing-zone batch (dt= folder date) the row's state came in; NULL for a source of plain files.
-- batches: Latest state per key (seller_id): the last line of the newest landing-zone batch (_batch) that holds the key; older versions stay in Bronze. From plain files, conflicting rows of one key are duplicate keys (quarantined).
WITH latest AS (
    -- Latest state per key: in a landing zone, the last line of the newest batch
    -- that holds the key (a batch is an export of changes, in order); from plain
    -- files, every row (exact duplicates go below, conflicting ones to the
    -- quarantine as duplicate keys). Rows without a key all stay: the gate
    -- quarantines them, nothing vanishes here.
    SELECT *
    FROM source('bronze.sellers')
    QUALIFY seller_id IS NULL
        OR (_batch IS NULL AND max(_batch) OVER (PARTITION BY trim(seller_id)) IS NULL)
        OR (_batch IS NOT NULL AND row_number() OVER (PARTITION BY trim(seller_id) ORDER BY _batch DESC, _source_line DESC) = 1)
),
src AS (
    SELECT *
    FROM latest
    QUALIFY row_number() OVER (
        PARTITION BY seller_id, seller_zip_code_prefix, seller_city, seller_state
        ORDER BY _source_line) = 1
),
clean AS (
    SELECT
        trim(seller_id) AS seller_id,
        CASE WHEN length(trim(seller_zip_code_prefix)) < 5 THEN lpad(trim(seller_zip_code_prefix), 5, '0')
             ELSE trim(seller_zip_code_prefix) END AS seller_zip_code_prefix,
        NULLIF(trim(seller_city), '') AS seller_city,
        NULLIF(upper(trim(seller_state)), '') AS seller_state,
        _source_file,
        _source_line,
        _batch
    FROM src
)
SELECT
    seller_id,
    seller_zip_code_prefix,
    seller_city,
    NULLIF(regexp_replace(lower(strip_accents(seller_city)), '\s+', ' ', 'g'), '') AS seller_city_normalized,
    coalesce(NOT regexp_matches(seller_city, '[0-9@/\\,;()]'), FALSE) AS seller_city_is_valid,
    seller_state,
    _source_file,
    _source_line,
    _batch
FROM clean
