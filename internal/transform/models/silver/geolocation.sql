-- description: One row per zip code prefix, aggregated from the many Bronze points per prefix. Exact duplicate points are removed first; lat/lng are the median of the distinct points inside Brazil's bounding box (lat -33.75..5.3, lng -73.99..-34.79), so stray points abroad neither move nor blur the location; city and state are the most frequent normalized values over all distinct points (ties: alphabetical). A prefix whose points all lie outside the box has NULL lat/lng.
-- materialized: table
-- key: zip_code_prefix
-- batches: Points have no key: the points of every landing-zone batch accumulate (a point sent again counts as an exact duplicate) and each prefix is aggregated over all of them.
-- column zip_code_prefix: Zip code prefix (5-character string, left-padded with '0' when shorter).
-- column geolocation_lat: Median latitude of the distinct points inside Brazil's bounding box; NULL when there is none.
-- column geolocation_lng: Median longitude of the distinct points inside Brazil's bounding box; NULL when there is none.
-- column geolocation_city: Most frequent normalized city (lower case, accents folded, whitespace collapsed) among the prefix's distinct points.
-- column geolocation_state: Most frequent state (upper case) among the prefix's distinct points.
-- column point_count: Distinct points inside the bounding box that the median is taken over.
-- column points_outside: Distinct points dropped because they lie outside Brazil's bounding box.
-- column duplicate_points: Bronze records dropped as exact duplicates of another record.
WITH pts AS (
    SELECT
        CASE WHEN length(trim(geolocation_zip_code_prefix)) < 5 THEN lpad(trim(geolocation_zip_code_prefix), 5, '0')
             ELSE trim(geolocation_zip_code_prefix) END AS zip_code_prefix,
        geolocation_lat AS lat,
        geolocation_lng AS lng,
        NULLIF(regexp_replace(lower(strip_accents(trim(geolocation_city))), '\s+', ' ', 'g'), '') AS city,
        NULLIF(upper(trim(geolocation_state)), '') AS state,
        row_number() OVER (
            PARTITION BY geolocation_zip_code_prefix, geolocation_lat, geolocation_lng, geolocation_city, geolocation_state
            ORDER BY _source_line) AS dup_rank
    FROM source('bronze.geolocation')
),
dist AS (
    SELECT *,
        lat BETWEEN -33.75 AND 5.3 AND lng BETWEEN -73.99 AND -34.79 AS in_brazil
    FROM pts
    WHERE dup_rank = 1
),
city AS (
    SELECT zip_code_prefix, city
    FROM dist
    WHERE city IS NOT NULL
    GROUP BY zip_code_prefix, city
    QUALIFY row_number() OVER (PARTITION BY zip_code_prefix ORDER BY count(*) DESC, city) = 1
),
state AS (
    SELECT zip_code_prefix, state
    FROM dist
    WHERE state IS NOT NULL
    GROUP BY zip_code_prefix, state
    QUALIFY row_number() OVER (PARTITION BY zip_code_prefix ORDER BY count(*) DESC, state) = 1
),
agg AS (
    SELECT
        zip_code_prefix,
        median(lat) FILTER (WHERE in_brazil) AS geolocation_lat,
        median(lng) FILTER (WHERE in_brazil) AS geolocation_lng,
        count(*) FILTER (WHERE in_brazil) AS point_count,
        count(*) FILTER (WHERE NOT coalesce(in_brazil, FALSE)) AS points_outside
    FROM dist
    GROUP BY zip_code_prefix
),
dups AS (
    SELECT zip_code_prefix, count(*) FILTER (WHERE dup_rank > 1) AS duplicate_points
    FROM pts
    GROUP BY zip_code_prefix
)
SELECT
    a.zip_code_prefix,
    a.geolocation_lat,
    a.geolocation_lng,
    c.city AS geolocation_city,
    s.state AS geolocation_state,
    a.point_count,
    a.points_outside,
    d.duplicate_points
FROM agg AS a
LEFT JOIN city AS c USING (zip_code_prefix)
LEFT JOIN state AS s USING (zip_code_prefix)
LEFT JOIN dups AS d USING (zip_code_prefix)
