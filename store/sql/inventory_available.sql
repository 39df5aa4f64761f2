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
-- active holds (product, expires_at) INCLUDE (quantity) has a live side and an expired
-- side, and the function sums the shorter one, index only. Each round reads at most
-- v_limit + 1 entries of each side, the live side first, and a round that finds both
-- longer than v_limit tries again with eight times the limit; so a read costs a small
-- multiple of the shorter side, never the longer one. The live side comes first because it
-- is bounded by the stock (a live hold holds at least one unit on hand), while a dead
-- release task's backlog is not: with the task down a read is one short probe of the live
-- side; with it running, one probe for a product with few live holds, and for a busy one a
-- second, short probe of the expired side. Both sides are read starting from v_now, where
-- they meet, so the second probe starts on the index page the first one read. A STABLE
-- function reads the snapshot of the statement that calls it, so every round sees the same
-- holds.
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
        -- NULL from a side means it is longer than v_limit; coalesce reads the expired side
        -- only when the live side gave NULL.
        SELECT coalesce(
            (SELECT CASE WHEN count(*) <= v_limit
                         THEN i.on_hand - coalesce(sum(l.quantity), 0) END
             FROM (SELECT r.quantity FROM reservations_reservation r
                   WHERE r.product_id = p_product AND r.status = 'active'
                       AND r.expires_at > v_now
                   ORDER BY r.expires_at
                   LIMIT v_limit + 1) l),
            (SELECT CASE WHEN count(*) <= v_limit
                         THEN i.on_hand - i.reserved + coalesce(sum(e.quantity), 0) END
             FROM (SELECT r.quantity FROM reservations_reservation r
                   WHERE r.product_id = p_product AND r.status = 'active'
                       AND r.expires_at <= v_now
                   ORDER BY r.expires_at DESC
                   LIMIT v_limit + 1) e)
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
