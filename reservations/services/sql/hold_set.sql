-- Set the units of p_product that cart p_cart holds; 0 removes the line.
--
-- reservations.services.holds.hold_set calls it in autocommit, so a hold is one round
-- trip and one transaction. Locks in the order every writer takes them: the cart, its
-- line for the product, then the product's inventory row last, from the counter update to
-- the commit. Any change slides the expiry of the cart's live holds; an expired line is
-- never revived unchecked. Time is p_now, or the database clock.
--
-- Limits against hoarding, checked under the cart's lock so that two calls on one cart
-- cannot both pass them. The cart's lines and units are its open lines (active or expired:
-- what the shopper sees and checkout would buy). A call that adds a line or units must
-- keep the cart within p_max_lines and p_max_units; one that does not (lower, remove,
-- same quantity) is never refused by them. The cart's first hold records
-- store_cart.holds_started_at; no hold of the cart lasts past that plus p_lifetime, and
-- from that instant on the cart can hold nothing more (removing a line stays allowed).
--
-- Errors (each undoes the whole call):
--   SH404  the cart does not exist
--   SH410  the cart is not open (checked out)
--   SHLIF  the cart's lifetime for holds has ended
--   SHLIN  a new line would take the cart past p_max_lines
--   SHUNI  the units would take the cart past p_max_units; DETAIL is the units of the
--          cart's other lines
--   SH409  too little free stock, even after reclaiming the product's expired holds;
--          DETAIL is the quantity the cart could hold
-- Returns the line's id (NULL when removed) and the cart's new expiry (NULL when the
-- cart has no live hold left).
CREATE OR REPLACE FUNCTION stockhold_hold_set(
    p_cart uuid,
    p_product bigint,
    p_quantity integer,
    p_now timestamptz,
    p_ttl interval,
    p_max_lines integer,
    p_max_units integer,
    p_lifetime interval,
    OUT line_id bigint,
    OUT cart_expires_at timestamptz
) LANGUAGE plpgsql AS $$
DECLARE
    v_now timestamptz := coalesce(p_now, statement_timestamp());
    v_expires timestamptz;
    v_status text;
    v_started timestamptz;
    v_end timestamptz;
    v_other_lines integer;
    v_other_units bigint;
    v_line_quantity integer;
    v_line_status text;
    v_held integer := 0;
    v_delta integer;
    v_free integer;
BEGIN
    SELECT status, holds_started_at INTO v_status, v_started
    FROM store_cart WHERE id = p_cart FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'cart % does not exist', p_cart USING ERRCODE = 'SH404';
    ELSIF v_status <> 'open' THEN
        RAISE EXCEPTION 'cart % is %', p_cart, v_status USING ERRCODE = 'SH410';
    END IF;
    -- A removal never starts the lifetime; the first hold does, and nothing resets it.
    IF v_started IS NULL AND p_quantity > 0 THEN
        v_started := v_now;
    END IF;
    v_end := coalesce(v_started, v_now) + p_lifetime;
    IF p_quantity > 0 AND v_now >= v_end THEN
        RAISE EXCEPTION 'cart % can hold nothing more since %', p_cart, v_end
            USING ERRCODE = 'SHLIF';
    END IF;
    v_expires := least(v_now + p_ttl, v_end);

    SELECT id, quantity, status INTO line_id, v_line_quantity, v_line_status
    FROM reservations_reservation
    WHERE cart_id = p_cart AND product_id = p_product AND status IN ('active', 'expired')
    FOR UPDATE;
    -- Units of the line still counted in `reserved`. If the line expired but was not
    -- reclaimed, they are free stock that nobody else can have taken: another writer must
    -- reclaim the row first, and this call holds its lock. So checking
    -- `on_hand - reserved >= quantity - held` is exactly "give them back, then check the
    -- whole quantity like a new hold".
    IF v_line_status = 'active' THEN
        v_held := v_line_quantity;
    END IF;
    v_delta := p_quantity - v_held;

    IF p_quantity > coalesce(v_line_quantity, 0) THEN
        -- Stable under the cart's lock: lines are added, removed, resized and consumed
        -- only by holders of that lock (reclaim moves a line between the open statuses).
        SELECT count(*), coalesce(sum(quantity), 0) INTO v_other_lines, v_other_units
        FROM reservations_reservation
        WHERE cart_id = p_cart AND product_id <> p_product AND status IN ('active', 'expired');
        IF line_id IS NULL AND v_other_lines + 1 > p_max_lines THEN
            RAISE EXCEPTION 'cart % has % lines', p_cart, v_other_lines
                USING ERRCODE = 'SHLIN';
        END IF;
        IF v_other_units + p_quantity > p_max_units THEN
            RAISE EXCEPTION 'cart % holds % units in other lines', p_cart, v_other_units
                USING ERRCODE = 'SHUNI', DETAIL = v_other_units::text;
        END IF;
    END IF;

    IF p_quantity = 0 THEN
        IF line_id IS NOT NULL THEN
            UPDATE reservations_reservation SET status = 'released', updated_at = v_now
            WHERE id = line_id;
        END IF;
    ELSIF line_id IS NULL THEN
        INSERT INTO reservations_reservation
            (cart_id, product_id, quantity, expires_at, status, created_at, updated_at)
        VALUES (p_cart, p_product, p_quantity, v_expires, 'active', v_now, v_now)
        RETURNING id INTO line_id;
    ELSE
        UPDATE reservations_reservation
        SET quantity = p_quantity, expires_at = v_expires, status = 'active', updated_at = v_now
        WHERE id = line_id;
    END IF;

    -- Sliding expiry of the cart's other live holds; expired ones are not revived here.
    -- The line itself was written above: a second version of its row would cost a second
    -- entry in each of its indexes.
    UPDATE reservations_reservation SET expires_at = v_expires, updated_at = v_now
    WHERE cart_id = p_cart AND status = 'active' AND expires_at > v_now
      AND id IS DISTINCT FROM line_id;
    IF FOUND OR p_quantity > 0 THEN
        cart_expires_at := v_expires;
    END IF;
    UPDATE store_cart
    SET expires_at = cart_expires_at, holds_started_at = v_started, updated_at = v_now
    WHERE id = p_cart;

    -- Last: the product row is locked from here to the commit.
    IF v_delta > 0 THEN
        v_free := stockhold_stock_take(p_product, v_delta, v_delta, 0, v_now, line_id);
        IF v_free IS NOT NULL THEN
            RAISE EXCEPTION 'too little free stock for product %', p_product
                USING ERRCODE = 'SH409', DETAIL = greatest(v_free + v_held, 0)::text;
        END IF;
    ELSIF v_delta < 0 THEN
        UPDATE store_inventory SET reserved = reserved + v_delta WHERE product_id = p_product;
    END IF;
    IF p_quantity = 0 THEN
        line_id := NULL;
    END IF;
END
$$;
