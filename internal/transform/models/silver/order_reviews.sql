-- description: One row per (review_id, order_id). The source has no key: a review_id is reused across orders and an order can have several reviews, so both are kept; when the same (review_id, order_id) pair appears more than once, the record with the latest review_answer_timestamp is kept, ties broken by the lowest source line. Timestamps converted from America/Sao_Paulo local time to UTC; review_date is the local creation date.
-- materialized: table
-- partition_by: review_date
-- key: review_id, order_id
-- incremental: order_id
-- column review_id: Review id; not unique on its own (reused across orders).
-- column order_id: Order id; an order can have several reviews.
-- column review_score: 1 to 5 stars.
-- column review_comment_title: Title, trimmed; NULL when empty.
-- column review_comment_message: Comment, trimmed; NULL when empty. May contain line breaks (CRLF), emoji and quotes.
-- column review_creation_date: When the survey was sent, UTC (local midnight, or 01:00 on a DST-start day where midnight did not exist).
-- column review_answer_timestamp: When the customer answered, UTC (an ambiguous fall-back local hour takes the later offset, -03:00).
-- column review_date: Brazilian local date of review_creation_date; the partition key.
-- column _source_file: Source CSV file of the kept Bronze record.
-- column _source_line: Line of the kept record in the source file.
-- column _batch: Landing-zone batch (dt= folder date) of the kept record; NULL for a source of plain files.
-- batches: Latest state per key (review_id, order_id): the rows of the newest landing-zone batch (_batch) that holds the pair, then the rule above (latest answer); older versions stay in Bronze.
WITH latest AS (
    -- Latest state per key: only the rows of the newest batch that holds the key
    -- (every row when the source has no batches). Rows without a key all stay:
    -- the gate quarantines them, nothing vanishes here.
    SELECT *
    FROM source('bronze.order_reviews')
    QUALIFY review_id IS NULL OR order_id IS NULL OR _batch IS NOT DISTINCT FROM max(_batch) OVER (PARTITION BY trim(review_id), trim(order_id))
)
SELECT
    trim(review_id) AS review_id,
    trim(order_id) AS order_id,
    review_score,
    NULLIF(trim(review_comment_title), '') AS review_comment_title,
    NULLIF(trim(review_comment_message), '') AS review_comment_message,
    timezone('America/Sao_Paulo', review_creation_date) AS review_creation_date,
    timezone('America/Sao_Paulo', review_answer_timestamp) AS review_answer_timestamp,
    CAST(review_creation_date AS DATE) AS review_date,
    _source_file,
    _source_line,
    _batch
FROM latest
QUALIFY row_number() OVER (
    PARTITION BY trim(review_id), trim(order_id)
    ORDER BY review_answer_timestamp DESC NULLS LAST, _source_line) = 1
