-- description: Portuguese product category name to English, one row per Portuguese name (trimmed; when a name repeats, the first record wins). Two categories used by products (pc_gamer, portateis_cozinha_e_preparadores_de_alimentos) are missing from the source: silver.products falls back to the Portuguese name.
-- materialized: table
-- key: product_category_name
-- column product_category_name: Category in Portuguese, trimmed.
-- column product_category_name_english: Category in English, trimmed.
-- column _source_file: Source CSV file of the Bronze record.
-- column _source_line: Line of the record in the source file.
-- column _batch: Landing-zone batch (dt= folder date) the row's state came in; NULL for a source of plain files.
-- batches: Latest state per key (product_category_name): the last line of the newest landing-zone batch (_batch) that holds the key; older versions stay in Bronze. From plain files, conflicting rows of one key are duplicate keys (quarantined).
WITH latest AS (
    -- Latest state per key: in a landing zone, the last line of the newest batch
    -- that holds the key (a batch is an export of changes, in order); from plain
    -- files, every row (exact duplicates go below, conflicting ones to the
    -- quarantine as duplicate keys). Rows without a key all stay: the gate
    -- quarantines them, nothing vanishes here.
    SELECT *
    FROM source('bronze.category_translation')
    QUALIFY product_category_name IS NULL
        OR (_batch IS NULL AND max(_batch) OVER (PARTITION BY trim(product_category_name)) IS NULL)
        OR (_batch IS NOT NULL AND row_number() OVER (PARTITION BY trim(product_category_name) ORDER BY _batch DESC, _source_line DESC) = 1)
)
SELECT
    trim(product_category_name) AS product_category_name,
    trim(product_category_name_english) AS product_category_name_english,
    _source_file,
    _source_line,
    _batch
FROM latest
WHERE NULLIF(trim(product_category_name), '') IS NOT NULL
QUALIFY row_number() OVER (PARTITION BY trim(product_category_name) ORDER BY _source_line) = 1
