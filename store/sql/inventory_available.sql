-- The units of one product that are free at p_now (or the database clock):
--
--     on_hand - reserved + units of its active holds that expired by then
--
-- An expired hold is free stock from the instant it expires, reclaimed or not (DESIGN.md,
-- the one rule); reservations.selectors computes the same figure for the API. The sum
-- reads only the product's expired backlog, through the (product, expires_at) index of
-- active holds. NULL for a product without a stock row.
CREATE OR REPLACE FUNCTION stockhold_inventory_available(
    p_product bigint,
    p_now timestamptz DEFAULT NULL
) RETURNS bigint LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN (
        SELECT i.on_hand - i.reserved + coalesce((
            SELECT sum(r.quantity) FROM reservations_reservation r
            WHERE r.product_id = p_product AND r.status = 'active'
                AND r.expires_at <= coalesce(p_now, statement_timestamp())
        ), 0)
        FROM store_inventory i
        WHERE i.product_id = p_product
    );
END
$$;
