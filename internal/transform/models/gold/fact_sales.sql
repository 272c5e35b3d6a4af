-- description: Sales at order-item grain: one row per unit sold (silver.order_items), with the person, product, seller, the Brazilian business date of the purchase and the order's payments ALLOCATED to its items. Allocation: an order's total payments (sum of silver.order_payments, vouchers included) is spread over its items pro rata to price + freight_value, in whole cents: each item gets the floor of its exact share and the cents left over go one each to the items with the largest fractional remainders (ties: lowest order_item_id). So SUM(payment_value) equals the Silver payments of every order that has items, to the cent. Items of an order without payment rows get 0.00 when it is no sale (a canceled or unavailable order paid nothing), NULL when it is a sale (what was paid is unknown, not zero; the gate flags the rows payment_recorded). An order with payments but no items has no row here (its payments appear in no fact row). All statuses are kept; is_sale marks the ones counted as sales (not canceled, not unavailable).
-- materialized: table
-- partition_by: purchase_date
-- key: order_id, order_item_id
-- incremental: order_id
-- incremental_lookup: silver.customers.customer_id -> customer_id
-- column order_id: Order id.
-- column order_item_id: Sequence of the item within the order, from 1.
-- column customer_unique_id: The person who bought (key of gold.dim_customer).
-- column customer_id: Per-order customer id from the source.
-- column customer_state: State (UF) given on the order (silver.customers of its customer_id), which the person's latest state in gold.dim_customer may differ from; NULL when the source leaves it empty.
-- column product_id: Product sold (key of gold.dim_product).
-- column seller_id: Seller (key of gold.dim_seller).
-- column date_id: Brazilian local business date of the purchase as yyyymmdd (key of gold.dim_date).
-- column purchase_date: Brazilian local business date of the purchase; the partition key.
-- column order_purchase_timestamp: When the order was placed, UTC.
-- column order_status: Status of the order.
-- column is_sale: TRUE when the order counts as a sale (status not canceled and not unavailable).
-- column price: Item price in R$, DECIMAL(12,2).
-- column freight_value: Item freight in R$, DECIMAL(12,2).
-- column payment_value: Share of the order's payments allocated to this item, R$ DECIMAL(12,2); pro rata to price + freight, remainder cents to the largest fractional shares; NULL when the order is a sale without payments in Silver (flagged payment_recorded), 0.00 when it is no sale and has none.
-- column delivery_days: Days from purchase to delivery to the customer (order level, UTC instants); NULL when not delivered.
-- column is_late: Order delivered on a later local date than promised; NULL when not delivered.
WITH items AS (
    SELECT
        i.*,
        CAST((i.price + i.freight_value) * 100 AS HUGEINT) AS weight_cents
    FROM ref('silver.order_items') AS i
),
pay AS (
    SELECT order_id, CAST(sum(payment_value) * 100 AS HUGEINT) AS paid_cents
    FROM ref('silver.order_payments')
    GROUP BY order_id
),
weighted AS (
    SELECT
        items.*,
        coalesce(pay.paid_cents, 0) AS paid_cents,
        pay.order_id IS NULL AS no_payment,
        sum(weight_cents) OVER (PARTITION BY items.order_id) AS order_weight,
        count(*) OVER (PARTITION BY items.order_id) AS order_items
    FROM items
    LEFT JOIN pay ON pay.order_id = items.order_id
),
shares AS (
    -- An order whose items are all free (weight 0) is split evenly.
    SELECT
        *,
        CASE WHEN order_weight > 0 THEN weight_cents ELSE 1 END AS w,
        CASE WHEN order_weight > 0 THEN order_weight ELSE order_items END AS w_total
    FROM weighted
),
floored AS (
    SELECT
        *,
        (paid_cents * w) // w_total AS floor_cents,
        (paid_cents * w) % w_total AS remainder
    FROM shares
),
allocated AS (
    SELECT
        *,
        paid_cents - sum(floor_cents) OVER (PARTITION BY order_id) AS leftover_cents,
        row_number() OVER (PARTITION BY order_id ORDER BY remainder DESC, order_item_id) AS remainder_rank
    FROM floored
)
SELECT
    a.order_id,
    a.order_item_id,
    c.customer_unique_id,
    o.customer_id,
    c.customer_state,
    a.product_id,
    a.seller_id,
    CAST(strftime(o.purchase_date, '%Y%m%d') AS INTEGER) AS date_id,
    o.purchase_date,
    o.order_purchase_timestamp,
    o.order_status,
    o.is_sale,
    a.price,
    a.freight_value,
    -- A sale without payment rows paid something unknown: NULL, not 0.00.
    CASE WHEN a.no_payment AND o.is_sale THEN NULL ELSE
        CAST(CAST(a.floor_cents + CASE WHEN a.remainder_rank <= a.leftover_cents THEN 1 ELSE 0 END AS DECIMAL(18,2)) * 0.01
             AS DECIMAL(12,2))
    END AS payment_value,
    o.delivery_days,
    o.is_late
FROM allocated AS a
LEFT JOIN ref('silver.orders') AS o ON o.order_id = a.order_id
LEFT JOIN ref('silver.customers') AS c ON c.customer_id = o.customer_id
