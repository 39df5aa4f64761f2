-- Move up to p_limit (NULL: every) expired active holds of one product to `expired` and
-- take their units out of `reserved`: the single path that gives expired units back.
--
-- Lock order (reservations/services/reclaim.py): shoppers and the release task call it
-- holding the product's inventory row lock and skip hold rows that are locked (only a
-- line's own cart locks it, and such a line is not free to anyone else). Staff stock
-- changes pass p_wait, call it before they lock the product row, and wait for every
-- expired hold. The counter moves once, after every hold row is locked. Expiry is decided
-- by the database clock unless the caller passes p_now. p_exclude is a hold that must
-- stay as it is (the line a hold is changing). Returns the holds and units freed.
CREATE OR REPLACE FUNCTION stockhold_expired_reclaim(
    p_product bigint,
    p_now timestamptz DEFAULT NULL,
    p_limit integer DEFAULT NULL,
    p_wait boolean DEFAULT false,
    p_exclude bigint DEFAULT NULL,
    OUT holds integer,
    OUT units integer
) LANGUAGE plpgsql AS $$
BEGIN
    -- The lock mode is the one part that cannot be a parameter; everything else is.
    EXECUTE format($sql$
        WITH picked AS (
            SELECT id FROM reservations_reservation
            WHERE product_id = $1 AND status = 'active' AND expires_at <= $2
                AND id IS DISTINCT FROM $4
            ORDER BY expires_at, id
            LIMIT $3
            FOR UPDATE %s
        ), moved AS (
            UPDATE reservations_reservation AS r
            SET status = 'expired', updated_at = $2
            FROM picked WHERE r.id = picked.id
            RETURNING r.quantity
        )
        SELECT count(*), coalesce(sum(quantity), 0) FROM moved
    $sql$, CASE WHEN p_wait THEN '' ELSE 'SKIP LOCKED' END)
    INTO holds, units
    USING p_product, coalesce(p_now, statement_timestamp()), p_limit, p_exclude;
    IF units > 0 THEN
        UPDATE store_inventory SET reserved = reserved - units WHERE product_id = p_product;
    END IF;
END
$$;
