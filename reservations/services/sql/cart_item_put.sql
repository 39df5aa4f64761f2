-- Set the units of p_product that cart p_cart holds, for a shopper who showed the cart's
-- token: the storefront's PUT of a cart line in one call. p_token_hash is the SHA-256 of
-- the token the request carried (reservations.tokens.token_hash).
--
-- It checks, in this order, what the API answers for: the cart exists and the token is
-- its own (SH404 either way: a wrong token does not tell that the cart exists), the
-- product exists and, for a quantity above 0, is on sale (SHPNF); then it is
-- stockhold_hold_set (sql/hold_set.sql), with its locks, limits and errors, on the
-- database clock. Comparing the hashes with `=` can show in its timing how much of the
-- stored hash a guess's hash matches; that says nothing of the token itself, which is 256
-- random bits and never stored.
--
-- Returns what stockhold_hold_set returns: the line's id (NULL when removed) and the
-- cart's new expiry.
CREATE OR REPLACE FUNCTION stockhold_cart_item_put(
    p_cart uuid,
    p_token_hash text,
    p_product bigint,
    p_quantity integer,
    p_ttl interval,
    p_max_lines integer,
    p_max_units integer,
    p_lifetime interval,
    OUT line_id bigint,
    OUT cart_expires_at timestamptz
) LANGUAGE plpgsql AS $$
DECLARE
    v_token_hash text;
    v_on_sale boolean;
BEGIN
    SELECT c.token_hash INTO v_token_hash FROM store_cart c WHERE c.id = p_cart;
    IF v_token_hash IS DISTINCT FROM p_token_hash THEN
        RAISE EXCEPTION 'cart % does not exist', p_cart USING ERRCODE = 'SH404';
    END IF;
    SELECT p.is_active INTO v_on_sale FROM store_product p WHERE p.id = p_product;
    IF v_on_sale IS NULL OR (p_quantity > 0 AND NOT v_on_sale) THEN
        RAISE EXCEPTION 'product % does not exist', p_product USING ERRCODE = 'SHPNF';
    END IF;
    SELECT h.line_id, h.cart_expires_at INTO line_id, cart_expires_at
    FROM stockhold_hold_set(
        p_cart, p_product, p_quantity, NULL, p_ttl, p_max_lines, p_max_units, p_lifetime
    ) h;
END
$$;
