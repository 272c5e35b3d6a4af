-- description: One row per order (exact duplicate records removed). Source timestamps are Brazilian local wall-clock times; here they are converted to UTC with the IANA zone America/Sao_Paulo (TIMESTAMPTZ, stored as UTC microseconds). purchase_date is the Brazilian business date of the purchase. A local time inside a spring-forward gap (e.g. 2017-10-15 00:30, which never existed) is mapped one hour on (03:30 UTC); an ambiguous local time in the autumn fall-back hour (e.g. 2018-02-17 23:30) takes the later offset, -03:00 (02:30 UTC).
-- materialized: table
-- partition_by: purchase_date
-- key: order_id
-- incremental: order_id
-- column order_id: Order id (32 hex chars).
-- column customer_id: Customer id of this order (one per order; the person is silver.customers.customer_unique_id).
-- column order_status: Status, trimmed and lower-cased: delivered, shipped, canceled, unavailable, invoiced, processing, created, approved.
-- column is_sale: TRUE when the order counts as a sale: every status except canceled and unavailable. Gold marts and customer lifetime value use this flag.
-- column order_purchase_timestamp: When the order was placed, UTC (converted from America/Sao_Paulo local time; DST gap times move one hour on, ambiguous times take the later offset).
-- column order_purchase_local: When the order was placed, Brazilian local wall-clock time as in the source (no zone); for hour-of-day analyses.
-- column purchase_date: Brazilian local business date of the purchase (America/Sao_Paulo calendar); the date a sale is counted on and the partition key.
-- column order_approved_at: When the payment was approved, UTC; NULL when not approved.
-- column order_delivered_carrier_date: When the seller handed the order to the carrier, UTC; NULL when not handed over.
-- column order_delivered_customer_date: When the customer received the order, UTC; NULL when not delivered.
-- column order_estimated_delivery_date: Delivery date promised at purchase (local midnight), as UTC.
-- column delivered_date: Brazilian local date of the delivery to the customer; NULL when not delivered.
-- column estimated_date: Brazilian local date of the promised delivery.
-- column delivery_days: Days from purchase to delivery to the customer, computed on the UTC instants, 2 decimals; NULL when not delivered. Can be negative where the source's timestamps are out of order.
-- column estimated_days: Days from purchase to the promised delivery date, computed on the UTC instants, 2 decimals.
-- column is_late: TRUE when the customer received the order on a later local date than the promised date (same day counts as on time); NULL when not delivered.
-- column previous_status: Status of the order's previous version (an earlier landing-zone batch, or an earlier line of the same one); NULL for the first version. A check flags an order whose status moved backwards.
-- column _source_file: Source CSV file of the Bronze record.
-- column _source_line: Line of the record in the source file.
-- column _batch: Landing-zone batch (dt= folder date) the row's state came in; NULL for a source of plain files.
-- batches: Latest state per key (order_id): the last line of the newest landing-zone batch (_batch) that holds the key; older versions stay in Bronze. From plain files, conflicting rows of one key are duplicate keys (quarantined).
WITH latest AS (
    -- Latest state per key: in a landing zone, the last line of the newest batch
    -- that holds the key (a batch is an export of changes, in order); from plain
    -- files, every row (exact duplicates go below, conflicting ones to the
    -- quarantine as duplicate keys). Rows without a key all stay: the gate
    -- quarantines them, nothing vanishes here.
    SELECT
        *,
        -- the status of the order's version before this one (history is in Bronze)
        lag(lower(trim(order_status))) OVER (PARTITION BY trim(order_id) ORDER BY _batch NULLS FIRST, _source_line) AS previous_status
    FROM source('bronze.orders')
    QUALIFY order_id IS NULL
        OR (_batch IS NULL AND max(_batch) OVER (PARTITION BY trim(order_id)) IS NULL)
        OR (_batch IS NOT NULL AND row_number() OVER (PARTITION BY trim(order_id) ORDER BY _batch DESC, _source_line DESC) = 1)
),
src AS (
    SELECT *
    FROM latest
    QUALIFY row_number() OVER (
        PARTITION BY order_id, customer_id, order_status, order_purchase_timestamp, order_approved_at,
                     order_delivered_carrier_date, order_delivered_customer_date, order_estimated_delivery_date
        ORDER BY _source_line) = 1
),
typed AS (
    SELECT
        trim(order_id) AS order_id,
        trim(customer_id) AS customer_id,
        lower(trim(order_status)) AS order_status,
        order_purchase_timestamp AS purchase_local,
        order_delivered_customer_date AS delivered_local,
        order_estimated_delivery_date AS estimated_local,
        timezone('America/Sao_Paulo', order_purchase_timestamp) AS purchase_utc,
        timezone('America/Sao_Paulo', order_approved_at) AS approved_utc,
        timezone('America/Sao_Paulo', order_delivered_carrier_date) AS carrier_utc,
        timezone('America/Sao_Paulo', order_delivered_customer_date) AS delivered_utc,
        timezone('America/Sao_Paulo', order_estimated_delivery_date) AS estimated_utc,
        previous_status,
        _source_file,
        _source_line,
        _batch
    FROM src
)
SELECT
    order_id,
    customer_id,
    order_status,
    order_status NOT IN ('canceled', 'unavailable') AS is_sale,
    purchase_utc AS order_purchase_timestamp,
    purchase_local AS order_purchase_local,
    CAST(purchase_local AS DATE) AS purchase_date,
    approved_utc AS order_approved_at,
    carrier_utc AS order_delivered_carrier_date,
    delivered_utc AS order_delivered_customer_date,
    estimated_utc AS order_estimated_delivery_date,
    CAST(delivered_local AS DATE) AS delivered_date,
    CAST(estimated_local AS DATE) AS estimated_date,
    CAST((epoch_us(delivered_utc) - epoch_us(purchase_utc)) / 86400e6 AS DECIMAL(9,2)) AS delivery_days,
    CAST((epoch_us(estimated_utc) - epoch_us(purchase_utc)) / 86400e6 AS DECIMAL(9,2)) AS estimated_days,
    CASE WHEN delivered_local IS NULL THEN NULL
         ELSE CAST(delivered_local AS DATE) > CAST(estimated_local AS DATE) END AS is_late,
    previous_status,
    _source_file,
    _source_line,
    _batch
FROM typed
