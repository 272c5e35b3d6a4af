-- description: One row per unit sold (k units of a product are k rows); exact duplicate records removed. shipping_limit_date converted from America/Sao_Paulo local time to UTC.
-- materialized: table
-- key: order_id, order_item_id
-- incremental: order_id
-- column order_id: Order id.
-- column order_item_id: Sequence of the item within the order, from 1.
-- column product_id: Product id.
-- column seller_id: Seller id.
-- column shipping_limit_date: Deadline for the seller to hand the item to the carrier, UTC.
-- column price: Item price in R$, DECIMAL(12,2).
-- column freight_value: Freight for the item in R$, DECIMAL(12,2).
-- column _source_file: Source CSV file of the Bronze record.
-- column _source_line: Line of the record in the source file.
-- column _batch: Landing-zone batch (dt= folder date) the row's state came in; NULL for a source of plain files.
-- batches: Latest state per key (order_id, order_item_id): the last line of the newest landing-zone batch (_batch) that holds the key; older versions stay in Bronze. From plain files, conflicting rows of one key are duplicate keys (quarantined).
WITH latest AS (
    -- Latest state per key: in a landing zone, the last line of the newest batch
    -- that holds the key (a batch is an export of changes, in order); from plain
    -- files, every row (exact duplicates go below, conflicting ones to the
    -- quarantine as duplicate keys). Rows without a key all stay: the gate
    -- quarantines them, nothing vanishes here.
    SELECT *
    FROM source('bronze.order_items')
    QUALIFY order_id IS NULL OR order_item_id IS NULL
        OR (_batch IS NULL AND max(_batch) OVER (PARTITION BY trim(order_id), order_item_id) IS NULL)
        OR (_batch IS NOT NULL AND row_number() OVER (PARTITION BY trim(order_id), order_item_id ORDER BY _batch DESC, _source_line DESC) = 1)
)
SELECT
    trim(order_id) AS order_id,
    order_item_id,
    trim(product_id) AS product_id,
    trim(seller_id) AS seller_id,
    timezone('America/Sao_Paulo', shipping_limit_date) AS shipping_limit_date,
    CAST(price AS DECIMAL(12,2)) AS price,
    CAST(freight_value AS DECIMAL(12,2)) AS freight_value,
    _source_file,
    _source_line,
    _batch
FROM latest
QUALIFY row_number() OVER (
    PARTITION BY order_id, order_item_id, product_id, seller_id, shipping_limit_date, price, freight_value
    ORDER BY _source_line) = 1
