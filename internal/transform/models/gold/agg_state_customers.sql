-- description: The persons who bought in each customer state: one row per (state, person) with at least one sale, which gold.mart_state_sales counts as its distinct customers. The state is the one given on each order (gold.fact_sales.customer_state); a person who ordered from two states has a row in each. Built by person: a drop adds its new buyers and rebuilds the persons whose sales changed; a row changes only when a person first buys in a state or no longer has a sale there, so most drops only append.
-- materialized: table
-- key: customer_state, customer_unique_id
-- incremental: customer_unique_id
-- column customer_state: Two-letter state (UF) given on the orders.
-- column customer_unique_id: The person (gold.dim_customer).
SELECT DISTINCT
    customer_state,
    customer_unique_id
FROM ref('gold.fact_sales')
WHERE is_sale
