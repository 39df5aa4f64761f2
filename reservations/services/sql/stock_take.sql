-- Take p_units of free stock of one product: add p_reserved_delta to `reserved` and
-- p_on_hand_delta to `on_hand` if `on_hand - reserved >= p_units`. NULL when taken;
-- otherwise the units that are free (exact: read under the product row lock after the
-- reclaim), and nothing of this call is changed but the reclaim.
--
-- The common case is one conditional UPDATE: the check and the change in one atomic
-- statement, the only one that locks the product row. When it finds too little, the
-- product row is locked, expired holds of the product (but p_exclude) are reclaimed, and
-- it is tried once more. A product without a stock row has nothing free.
CREATE OR REPLACE FUNCTION stockhold_stock_take(
    p_product bigint,
    p_units integer,
    p_reserved_delta integer,
    p_on_hand_delta integer,
    p_now timestamptz DEFAULT NULL,
    p_exclude bigint DEFAULT NULL
) RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    v_free integer;
BEGIN
    UPDATE store_inventory
    SET reserved = reserved + p_reserved_delta, on_hand = on_hand + p_on_hand_delta
    WHERE product_id = p_product AND on_hand - reserved >= p_units;
    IF FOUND THEN
        RETURN NULL;
    END IF;

    PERFORM 1 FROM store_inventory WHERE product_id = p_product FOR UPDATE;
    IF NOT FOUND THEN
        RETURN 0;
    END IF;
    PERFORM stockhold_expired_reclaim(p_product, p_now, NULL, false, p_exclude);
    UPDATE store_inventory
    SET reserved = reserved + p_reserved_delta, on_hand = on_hand + p_on_hand_delta
    WHERE product_id = p_product AND on_hand - reserved >= p_units;
    IF FOUND THEN
        RETURN NULL;
    END IF;
    SELECT on_hand - reserved INTO v_free FROM store_inventory WHERE product_id = p_product;
    RETURN v_free;
END
$$;
