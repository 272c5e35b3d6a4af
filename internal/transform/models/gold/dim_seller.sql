-- description: One row per seller with location: city as typed, normalized city, validity flag for dirty city strings, state, and lat/lng of the zip prefix from silver.geolocation (NULL when the prefix has no point in Brazil).
-- materialized: table
-- key: seller_id
-- incremental: seller_id
-- incremental_lookup: silver.geolocation.zip_code_prefix -> seller_zip_code_prefix
-- column seller_id: Seller id.
-- column seller_zip_code_prefix: Zip code prefix (5 characters).
-- column seller_city: City as typed by the seller, trimmed.
-- column seller_city_normalized: City in lower case, accents folded, whitespace collapsed.
-- column seller_city_is_valid: FALSE when the typed city cannot be a plain city name (digits, e-mail, '/', ',').
-- column seller_state: Two-letter state (UF).
-- column geolocation_lat: Median latitude of the zip prefix; NULL when unknown.
-- column geolocation_lng: Median longitude of the zip prefix; NULL when unknown.
SELECT
    s.seller_id,
    s.seller_zip_code_prefix,
    s.seller_city,
    s.seller_city_normalized,
    s.seller_city_is_valid,
    s.seller_state,
    g.geolocation_lat,
    g.geolocation_lng
FROM ref('silver.sellers') AS s
LEFT JOIN ref('silver.geolocation') AS g ON g.zip_code_prefix = s.seller_zip_code_prefix
