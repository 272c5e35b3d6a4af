-- quality annotation of silver.orders
SELECT
    t.* EXCLUDE (__nexus_f1, __nexus_n1, __nexus_f2, __nexus_f3, __nexus_f4, __nexus_f5, __nexus_f6, __nexus_f7, __nexus_f8, __nexus_f9, __nexus_f10, __nexus_f11, __nexus_f12, __nexus_f13, __nexus_f14, __nexus_f15, __nexus_f16),
    CASE WHEN __nexus_f1 OR __nexus_f2 OR __nexus_f3 OR __nexus_f4 OR __nexus_f5 OR __nexus_f6 OR __nexus_f7 OR __nexus_f8 OR __nexus_f9 OR __nexus_f10 OR __nexus_f11 OR __nexus_f12 OR __nexus_f13 OR __nexus_f14 OR __nexus_f15 OR __nexus_f16 THEN list_filter([
            CASE WHEN __nexus_f1 THEN {'check_id': 'order_id_not_null', 'reason': 'order_id is NULL', 'quarantine': true} END,
            CASE WHEN __nexus_f2 THEN {'check_id': 'order_id_unique', 'reason': concat('order_id (', coalesce(CAST(t."order_id" AS VARCHAR), 'NULL'), ') is not unique: ', CAST(t.__nexus_n1 AS VARCHAR), ' rows have it'), 'quarantine': true} END,
            CASE WHEN __nexus_f3 THEN {'check_id': 'customer_id_not_null', 'reason': 'customer_id is NULL', 'quarantine': true} END,
            CASE WHEN __nexus_f4 THEN {'check_id': 'customer_exists', 'reason': concat('customer_id (', coalesce(CAST(t."customer_id" AS VARCHAR), 'NULL'), ') not found in silver.customers.customer_id'), 'quarantine': true} END,
            CASE WHEN __nexus_f5 THEN {'check_id': 'order_status_known', 'reason': concat('order_status (', coalesce(CAST(t."order_status" AS VARCHAR), 'NULL'), ') is not one of delivered, shipped, canceled, unavailable, invoiced, processing, created, approved'), 'quarantine': true} END,
            CASE WHEN __nexus_f6 THEN {'check_id': 'purchase_not_null', 'reason': 'order_purchase_timestamp is NULL', 'quarantine': true} END,
            CASE WHEN __nexus_f7 THEN {'check_id': 'purchase_in_range', 'reason': concat('order_purchase_timestamp (', coalesce(CAST(t."order_purchase_timestamp" AS VARCHAR), 'NULL'), ') is outside [2016-01-01 00:00:00+00, 2019-12-31 23:59:59+00]'), 'quarantine': true} END,
            CASE WHEN __nexus_f8 THEN {'check_id': 'approved_after_purchase', 'reason': concat('order_approved_at (', coalesce(CAST(t."order_approved_at" AS VARCHAR), 'NULL'), ') is before order_purchase_timestamp (', coalesce(CAST(t."order_purchase_timestamp" AS VARCHAR), 'NULL'), ')'), 'quarantine': false} END,
            CASE WHEN __nexus_f9 THEN {'check_id': 'status_not_backwards', 'reason': concat('status order_status (', coalesce(CAST(t."order_status" AS VARCHAR), 'NULL'), ') follows previous_status (', coalesce(CAST(t."previous_status" AS VARCHAR), 'NULL'), ')'), 'quarantine': false} END,
            CASE WHEN __nexus_f10 THEN {'check_id': 'carrier_after_purchase', 'reason': concat('order_delivered_carrier_date (', coalesce(CAST(t."order_delivered_carrier_date" AS VARCHAR), 'NULL'), ') is before order_purchase_timestamp (', coalesce(CAST(t."order_purchase_timestamp" AS VARCHAR), 'NULL'), ')'), 'quarantine': false} END,
            CASE WHEN __nexus_f11 THEN {'check_id': 'delivered_after_purchase', 'reason': concat('order_delivered_customer_date (', coalesce(CAST(t."order_delivered_customer_date" AS VARCHAR), 'NULL'), ') is before order_purchase_timestamp (', coalesce(CAST(t."order_purchase_timestamp" AS VARCHAR), 'NULL'), ')'), 'quarantine': false} END,
            CASE WHEN __nexus_f12 THEN {'check_id': 'carrier_after_approval', 'reason': concat('order_delivered_carrier_date (', coalesce(CAST(t."order_delivered_carrier_date" AS VARCHAR), 'NULL'), ') is before order_approved_at (', coalesce(CAST(t."order_approved_at" AS VARCHAR), 'NULL'), ')'), 'quarantine': false} END,
            CASE WHEN __nexus_f13 THEN {'check_id': 'delivered_after_carrier', 'reason': concat('order_delivered_customer_date (', coalesce(CAST(t."order_delivered_customer_date" AS VARCHAR), 'NULL'), ') is before order_delivered_carrier_date (', coalesce(CAST(t."order_delivered_carrier_date" AS VARCHAR), 'NULL'), ')'), 'quarantine': false} END,
            CASE WHEN __nexus_f14 THEN {'check_id': 'delivered_has_date', 'reason': concat('order_status is delivered but order_delivered_customer_date (', coalesce(CAST(t."order_delivered_customer_date" AS VARCHAR), 'NULL'), ')'), 'quarantine': false} END,
            CASE WHEN __nexus_f15 THEN {'check_id': 'delivered_was_approved', 'reason': concat('order_status is delivered but order_approved_at (', coalesce(CAST(t."order_approved_at" AS VARCHAR), 'NULL'), ')'), 'quarantine': false} END,
            CASE WHEN __nexus_f16 THEN {'check_id': 'estimated_not_null', 'reason': 'order_estimated_delivery_date is NULL', 'quarantine': false} END
        ], lambda f: f IS NOT NULL)
    ELSE CAST([] AS STRUCT(check_id VARCHAR, reason VARCHAR, quarantine BOOLEAN)[]) END AS "_nexus_failures"
FROM (
    SELECT
        t.*,
        t."order_id" IS NULL AS __nexus_f1,
        __nexus_u1.__nexus_n AS __nexus_n1,
        __nexus_u1.__nexus_n IS NOT NULL AS __nexus_f2,
        t."customer_id" IS NULL AS __nexus_f3,
        (t."customer_id" IS NOT NULL AND NOT coalesce(t."customer_id" IN (SELECT "customer_id" FROM "silver"."customers"), FALSE)) AS __nexus_f4,
        coalesce(t."order_status" NOT IN ('delivered', 'shipped', 'canceled', 'unavailable', 'invoiced', 'processing', 'created', 'approved'), FALSE) AS __nexus_f5,
        t."order_purchase_timestamp" IS NULL AS __nexus_f6,
        NOT coalesce(t."order_purchase_timestamp" >= '2016-01-01 00:00:00+00' AND t."order_purchase_timestamp" <= '2019-12-31 23:59:59+00', TRUE) AS __nexus_f7,
        NOT coalesce((order_approved_at >= order_purchase_timestamp), TRUE) AS __nexus_f8,
        NOT coalesce((coalesce(list_position(['created', 'approved', 'invoiced', 'processing', 'shipped', 'delivered'], order_status) >= list_position(['created', 'approved', 'invoiced', 'processing', 'shipped', 'delivered'], previous_status), TRUE)), TRUE) AS __nexus_f9,
        NOT coalesce((order_delivered_carrier_date >= order_purchase_timestamp), TRUE) AS __nexus_f10,
        NOT coalesce((order_delivered_customer_date >= order_purchase_timestamp), TRUE) AS __nexus_f11,
        NOT coalesce((order_delivered_carrier_date >= order_approved_at), TRUE) AS __nexus_f12,
        NOT coalesce((order_delivered_customer_date >= order_delivered_carrier_date), TRUE) AS __nexus_f13,
        NOT coalesce((order_status <> 'delivered' OR order_delivered_customer_date IS NOT NULL), TRUE) AS __nexus_f14,
        NOT coalesce((order_status <> 'delivered' OR order_approved_at IS NOT NULL), TRUE) AS __nexus_f15,
        t."order_estimated_delivery_date" IS NULL AS __nexus_f16
    FROM _stage AS t
    LEFT JOIN (SELECT "order_id" AS __nexus_k1, count(*) AS __nexus_n FROM _stage GROUP BY "order_id" HAVING count(*) > 1) AS __nexus_u1 ON __nexus_u1.__nexus_k1 = t."order_id"
) AS t
