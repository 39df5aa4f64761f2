-- The cart with its lines, as the storefront shows it: every cart answer is built from
-- these rows (reservations.selectors), one row a line, or one row with no line. The first
-- columns are the cart's: its token's hash, status and expiry; then each line's product,
-- sku, name and price, units, expiry and status. A PL/pgSQL function so that each server
-- connection plans the query once, not on every request.
--
-- An open cart shows its open lines (holds active or expired); a checked-out cart also
-- the units its order bought. A live hold is told from an expired one by the clock of the
-- statement that calls this. The price comes as text so nothing rounds it, and times as
-- ISO 8601 text in UTC (Django's loader of timestamptz values is Python code, several
-- times the cost of parsing this text). No row when there is no such cart.
CREATE OR REPLACE FUNCTION stockhold_cart_shown(p_cart uuid)
RETURNS TABLE (
    token_hash text,
    status text,
    expires_at text,
    product_id bigint,
    sku text,
    name text,
    price text,
    quantity integer,
    line_expires_at text,
    line_status text
) LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN QUERY
    SELECT c.token_hash::text, c.status::text,
           to_char(c.expires_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US'),
           r.product_id, p.sku::text, p.name::text, CAST(p.price AS text), r.quantity,
           to_char(r.expires_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US'),
           CASE WHEN r.status = 'active' AND r.expires_at <= statement_timestamp()
                THEN 'expired' ELSE r.status::text END
    FROM store_cart c
    LEFT JOIN reservations_reservation r ON r.cart_id = c.id AND r.status = ANY(
        CASE WHEN c.status = 'open' THEN '{active,expired}'::text[]
             ELSE '{active,expired,consumed}'::text[] END
    )
    LEFT JOIN store_product p ON p.id = r.product_id
    WHERE c.id = p_cart
    ORDER BY r.product_id;
END
$$;
