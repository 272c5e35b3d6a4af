-- description: One row per product (exact duplicate records removed), with its category in Portuguese and English. The English name comes from silver.category_translation; a category missing from the translation keeps its Portuguese name; a product without category gets 'unknown' in both names so that its revenue is never dropped by a join or a GROUP BY on the category.
-- materialized: table
-- key: product_id
-- incremental: product_id
-- incremental_lookup: silver.category_translation.product_category_name -> product_category_name
-- column product_id: Product id.
-- column product_category_name: Category in Portuguese as in the source, trimmed; NULL when the product has none.
-- column category_pt: Category in Portuguese; 'unknown' when the product has none.
-- column category_en: Category in English; the Portuguese name when the translation is missing; 'unknown' when the product has none.
-- column category_is_translated: TRUE when category_en comes from the translation table.
-- column product_name_length: Characters in the product name (source header says 'lenght').
-- column product_description_length: Characters in the description (source header says 'lenght').
-- column product_photos_qty: Number of photos.
-- column product_weight_g: Weight in grams (0 occurs).
-- column product_length_cm: Length in cm.
-- column product_height_cm: Height in cm.
-- column product_width_cm: Width in cm.
-- column _source_file: Source CSV file of the Bronze record.
-- column _source_line: Line of the record in the source file.
-- column _batch: Landing-zone batch (dt= folder date) the row's state came in; NULL for a source of plain files.
-- batches: Latest state per key (product_id): the last line of the newest landing-zone batch (_batch) that holds the key; older versions stay in Bronze. From plain files, conflicting rows of one key are duplicate keys (quarantined).
WITH latest AS (
    -- Latest state per key: in a landing zone, the last line of the newest batch
    -- that holds the key (a batch is an export of changes, in order); from plain
    -- files, every row (exact duplicates go below, conflicting ones to the
    -- quarantine as duplicate keys). Rows without a key all stay: the gate
    -- quarantines them, nothing vanishes here.
    SELECT *
    FROM source('bronze.products')
    QUALIFY product_id IS NULL
        OR (_batch IS NULL AND max(_batch) OVER (PARTITION BY trim(product_id)) IS NULL)
        OR (_batch IS NOT NULL AND row_number() OVER (PARTITION BY trim(product_id) ORDER BY _batch DESC, _source_line DESC) = 1)
),
src AS (
    SELECT *
    FROM latest
    QUALIFY row_number() OVER (
        PARTITION BY product_id, product_category_name, product_name_length, product_description_length,
                     product_photos_qty, product_weight_g, product_length_cm, product_height_cm, product_width_cm
        ORDER BY _source_line) = 1
),
clean AS (
    SELECT *, NULLIF(lower(trim(product_category_name)), '') AS category
    FROM src
)
SELECT
    trim(p.product_id) AS product_id,
    p.category AS product_category_name,
    coalesce(p.category, 'unknown') AS category_pt,
    coalesce(t.product_category_name_english, p.category, 'unknown') AS category_en,
    t.product_category_name_english IS NOT NULL AS category_is_translated,
    p.product_name_length,
    p.product_description_length,
    p.product_photos_qty,
    p.product_weight_g,
    p.product_length_cm,
    p.product_height_cm,
    p.product_width_cm,
    p._source_file,
    p._source_line,
    p._batch
FROM clean AS p
LEFT JOIN ref('silver.category_translation') AS t
    ON t.product_category_name = p.category
