-- The units of one product that are free at p_now (or the database clock):
--
--     on_hand - reserved + units of its active holds that expired by then
--
-- An expired hold is free stock from the instant it expires, reclaimed or not (DESIGN.md,
-- the one rule). It is the one implementation of the figure: the stock triggers, the
-- storefront, the back office and the admin all call it (reservations.selectors). NULL for
-- a product without a stock row.
--
-- `reserved` counts the units of every active hold, live or expired, so the same figure is
-- also on_hand - units of its live holds. The product's range of the partial index on
-- active holds (product, expires_at) INCLUDE (quantity) has an expired side and a live
-- side, and the function sums the shorter one, index only: the expired side while the
-- release task keeps up (one probe that finds it empty), the live side when the task is
-- down and the expired backlog outgrows it. Each round reads at most v_limit + 1 entries
-- of each side, the expired side first, and a round that finds both longer than v_limit
-- tries again with eight times the limit. So a read costs a small multiple of the shorter
-- side, never the longer one. A STABLE function reads the snapshot of the statement that
-- calls it, so every round sees the same holds.
CREATE OR REPLACE FUNCTION stockhold_inventory_available(
    p_product bigint,
    p_now timestamptz DEFAULT NULL
) RETURNS bigint LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_now timestamptz := coalesce(p_now, statement_timestamp());
    v_limit bigint := 8;
    v_available bigint;
BEGIN
    LOOP
        -- NULL from a side means it is longer than v_limit; coalesce reads the live side
        -- only when the expired side gave NULL.
        SELECT coalesce(
            (SELECT CASE WHEN count(*) <= v_limit
                         THEN i.on_hand - i.reserved + coalesce(sum(e.quantity), 0) END
             FROM (SELECT r.quantity FROM reservations_reservation r
                   WHERE r.product_id = p_product AND r.status = 'active'
                       AND r.expires_at <= v_now
                   LIMIT v_limit + 1) e),
            (SELECT CASE WHEN count(*) <= v_limit
                         THEN i.on_hand - coalesce(sum(l.quantity), 0) END
             FROM (SELECT r.quantity FROM reservations_reservation r
                   WHERE r.product_id = p_product AND r.status = 'active'
                       AND r.expires_at > v_now
                   LIMIT v_limit + 1) l)
        )
        INTO v_available
        FROM store_inventory i
        WHERE i.product_id = p_product;
        IF NOT FOUND OR v_available IS NOT NULL THEN
            RETURN v_available;
        END IF;
        v_limit := v_limit * 8;
    END LOOP;
END
$$;
