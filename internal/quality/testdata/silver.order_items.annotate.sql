-- quality annotation of silver.order_items
SELECT
    t.*,
    list_filter([
        CASE WHEN t."order_id" IS NULL
            THEN {'check_id': 'order_id_not_null', 'reason': 'order_id is NULL', 'quarantine': true} END,
        CASE WHEN (t."order_id" IS NOT NULL AND t."order_item_id" IS NOT NULL AND count(*) OVER (PARTITION BY t."order_id", t."order_item_id") > 1)
            THEN {'check_id': 'item_key_unique', 'reason': concat('order_id, order_item_id (', concat_ws(', ', coalesce(CAST(t."order_id" AS VARCHAR), 'NULL'), coalesce(CAST(t."order_item_id" AS VARCHAR), 'NULL')), ') is not unique: ', CAST(count(*) OVER (PARTITION BY t."order_id", t."order_item_id") AS VARCHAR), ' rows have it'), 'quarantine': true} END,
        CASE WHEN (t."order_id" IS NOT NULL AND __nexus_fk1.__nexus_key IS NULL)
            THEN {'check_id': 'order_exists', 'reason': concat('order_id (', coalesce(CAST(t."order_id" AS VARCHAR), 'NULL'), ') not found in silver.orders.order_id'), 'quarantine': true} END,
        CASE WHEN (t."product_id" IS NOT NULL AND __nexus_fk2.__nexus_key IS NULL)
            THEN {'check_id': 'product_exists', 'reason': concat('product_id (', coalesce(CAST(t."product_id" AS VARCHAR), 'NULL'), ') not found in silver.products.product_id'), 'quarantine': true} END,
        CASE WHEN (t."seller_id" IS NOT NULL AND __nexus_fk3.__nexus_key IS NULL)
            THEN {'check_id': 'seller_exists', 'reason': concat('seller_id (', coalesce(CAST(t."seller_id" AS VARCHAR), 'NULL'), ') not found in silver.sellers.seller_id'), 'quarantine': true} END,
        CASE WHEN NOT coalesce(t."order_item_id" >= 1, TRUE)
            THEN {'check_id': 'order_item_id_positive', 'reason': concat('order_item_id (', coalesce(CAST(t."order_item_id" AS VARCHAR), 'NULL'), ') is not >= 1'), 'quarantine': true} END,
        CASE WHEN t."price" IS NULL
            THEN {'check_id': 'price_not_null', 'reason': 'price is NULL', 'quarantine': true} END,
        CASE WHEN t."freight_value" IS NULL
            THEN {'check_id': 'freight_not_null', 'reason': 'freight_value is NULL', 'quarantine': true} END,
        CASE WHEN NOT coalesce(t."price" > 0, TRUE)
            THEN {'check_id': 'price_positive', 'reason': concat('price (', coalesce(CAST(t."price" AS VARCHAR), 'NULL'), ') is not > 0'), 'quarantine': true} END,
        CASE WHEN NOT coalesce(t."freight_value" >= 0, TRUE)
            THEN {'check_id': 'freight_not_negative', 'reason': concat('freight_value (', coalesce(CAST(t."freight_value" AS VARCHAR), 'NULL'), ') is not >= 0'), 'quarantine': true} END,
        CASE WHEN NOT coalesce(t."freight_value" > 0, TRUE)
            THEN {'check_id': 'freight_positive', 'reason': concat('freight_value (', coalesce(CAST(t."freight_value" AS VARCHAR), 'NULL'), ') is not > 0'), 'quarantine': false} END,
        CASE WHEN NOT coalesce(t."shipping_limit_date" >= '2016-01-01 00:00:00+00' AND t."shipping_limit_date" <= '2018-12-31 23:59:59+00', TRUE)
            THEN {'check_id': 'shipping_limit_in_range', 'reason': concat('shipping_limit_date (', coalesce(CAST(t."shipping_limit_date" AS VARCHAR), 'NULL'), ') is outside [2016-01-01 00:00:00+00, 2018-12-31 23:59:59+00]'), 'quarantine': false} END
    ], lambda f: f IS NOT NULL) AS "_nexus_failures"
FROM _stage AS t
LEFT JOIN (SELECT DISTINCT "order_id" AS __nexus_key FROM "silver"."orders") AS __nexus_fk1 ON __nexus_fk1.__nexus_key = t."order_id"
LEFT JOIN (SELECT DISTINCT "product_id" AS __nexus_key FROM "silver"."products") AS __nexus_fk2 ON __nexus_fk2.__nexus_key = t."product_id"
LEFT JOIN (SELECT DISTINCT "seller_id" AS __nexus_key FROM "silver"."sellers") AS __nexus_fk3 ON __nexus_fk3.__nexus_key = t."seller_id"
