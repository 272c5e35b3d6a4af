-- quality annotation of silver.order_items
SELECT
    t.* EXCLUDE (__nexus_f1, __nexus_n1, __nexus_f2, __nexus_f3, __nexus_f4, __nexus_f5, __nexus_f6, __nexus_f7, __nexus_f8, __nexus_f9, __nexus_f10, __nexus_f11, __nexus_f12),
    CASE WHEN __nexus_f1 OR __nexus_f2 OR __nexus_f3 OR __nexus_f4 OR __nexus_f5 OR __nexus_f6 OR __nexus_f7 OR __nexus_f8 OR __nexus_f9 OR __nexus_f10 OR __nexus_f11 OR __nexus_f12 THEN list_filter([
            CASE WHEN __nexus_f1 THEN {'check_id': 'order_id_not_null', 'reason': 'order_id is NULL', 'quarantine': true} END,
            CASE WHEN __nexus_f2 THEN {'check_id': 'item_key_unique', 'reason': concat('order_id, order_item_id (', concat_ws(', ', coalesce(CAST(t."order_id" AS VARCHAR), 'NULL'), coalesce(CAST(t."order_item_id" AS VARCHAR), 'NULL')), ') is not unique: ', CAST(t.__nexus_n1 AS VARCHAR), ' rows have it'), 'quarantine': true} END,
            CASE WHEN __nexus_f3 THEN {'check_id': 'order_exists', 'reason': concat('order_id (', coalesce(CAST(t."order_id" AS VARCHAR), 'NULL'), ') not found in silver.orders.order_id'), 'quarantine': true} END,
            CASE WHEN __nexus_f4 THEN {'check_id': 'product_exists', 'reason': concat('product_id (', coalesce(CAST(t."product_id" AS VARCHAR), 'NULL'), ') not found in silver.products.product_id'), 'quarantine': true} END,
            CASE WHEN __nexus_f5 THEN {'check_id': 'seller_exists', 'reason': concat('seller_id (', coalesce(CAST(t."seller_id" AS VARCHAR), 'NULL'), ') not found in silver.sellers.seller_id'), 'quarantine': true} END,
            CASE WHEN __nexus_f6 THEN {'check_id': 'order_item_id_positive', 'reason': concat('order_item_id (', coalesce(CAST(t."order_item_id" AS VARCHAR), 'NULL'), ') is not >= 1'), 'quarantine': true} END,
            CASE WHEN __nexus_f7 THEN {'check_id': 'price_not_null', 'reason': 'price is NULL', 'quarantine': true} END,
            CASE WHEN __nexus_f8 THEN {'check_id': 'freight_not_null', 'reason': 'freight_value is NULL', 'quarantine': true} END,
            CASE WHEN __nexus_f9 THEN {'check_id': 'price_positive', 'reason': concat('price (', coalesce(CAST(t."price" AS VARCHAR), 'NULL'), ') is not > 0'), 'quarantine': true} END,
            CASE WHEN __nexus_f10 THEN {'check_id': 'freight_not_negative', 'reason': concat('freight_value (', coalesce(CAST(t."freight_value" AS VARCHAR), 'NULL'), ') is not >= 0'), 'quarantine': true} END,
            CASE WHEN __nexus_f11 THEN {'check_id': 'freight_positive', 'reason': concat('freight_value (', coalesce(CAST(t."freight_value" AS VARCHAR), 'NULL'), ') is not > 0'), 'quarantine': false} END,
            CASE WHEN __nexus_f12 THEN {'check_id': 'shipping_limit_in_range', 'reason': concat('shipping_limit_date (', coalesce(CAST(t."shipping_limit_date" AS VARCHAR), 'NULL'), ') is outside [2016-01-01 00:00:00+00, 2018-12-31 23:59:59+00]'), 'quarantine': false} END
        ], lambda f: f IS NOT NULL)
    ELSE CAST([] AS STRUCT(check_id VARCHAR, reason VARCHAR, quarantine BOOLEAN)[]) END AS "_nexus_failures"
FROM (
    SELECT
        t.*,
        t."order_id" IS NULL AS __nexus_f1,
        __nexus_u1.__nexus_n AS __nexus_n1,
        __nexus_u1.__nexus_n IS NOT NULL AS __nexus_f2,
        (t."order_id" IS NOT NULL AND NOT coalesce(t."order_id" IN (SELECT "order_id" FROM "silver"."orders"), FALSE)) AS __nexus_f3,
        (t."product_id" IS NOT NULL AND NOT coalesce(t."product_id" IN (SELECT "product_id" FROM "silver"."products"), FALSE)) AS __nexus_f4,
        (t."seller_id" IS NOT NULL AND NOT coalesce(t."seller_id" IN (SELECT "seller_id" FROM "silver"."sellers"), FALSE)) AS __nexus_f5,
        NOT coalesce(t."order_item_id" >= 1, TRUE) AS __nexus_f6,
        t."price" IS NULL AS __nexus_f7,
        t."freight_value" IS NULL AS __nexus_f8,
        NOT coalesce(t."price" > 0, TRUE) AS __nexus_f9,
        NOT coalesce(t."freight_value" >= 0, TRUE) AS __nexus_f10,
        NOT coalesce(t."freight_value" > 0, TRUE) AS __nexus_f11,
        NOT coalesce(t."shipping_limit_date" >= '2016-01-01 00:00:00+00' AND t."shipping_limit_date" <= '2018-12-31 23:59:59+00', TRUE) AS __nexus_f12
    FROM _stage AS t
    LEFT JOIN (SELECT "order_id" AS __nexus_k1, "order_item_id" AS __nexus_k2, count(*) AS __nexus_n FROM _stage GROUP BY "order_id", "order_item_id" HAVING count(*) > 1) AS __nexus_u1 ON __nexus_u1.__nexus_k1 = t."order_id" AND __nexus_u1.__nexus_k2 = t."order_item_id"
) AS t
