"""`stockhold_hold_set`: the common case of a hold as one statement, on PostgreSQL only.

reservations.services.holds.hold_set calls it in autocommit, so a hold is one round trip
and one transaction, and the product row is locked from its conditional UPDATE to the
commit inside that one statement. The steps and their order are those of the Python path
in the same module: lock the open cart, lock its open line for the product, write the
line, slide the cart's live holds, then move the counter last. When the counter finds too
little free stock it raises SQLSTATE SH409, which undoes the whole statement, and the
caller takes the Python path (reclaim expired holds of the product, try again, or report
what is available). A cart that is missing or not open returns `applied` NULL before any
write; the Python path then raises the error a shopper sees. SQLite (`make run`) never installs it.
"""

from django.db import migrations

CREATE = """
CREATE OR REPLACE FUNCTION stockhold_hold_set(
    p_cart uuid, p_product bigint, p_quantity integer, p_now timestamptz, p_ttl interval,
    OUT applied boolean, OUT line_id bigint, OUT line_created_at timestamptz,
    OUT cart_expires_at timestamptz
) LANGUAGE plpgsql AS $$
DECLARE
    v_status text;
    v_line_quantity integer;
    v_line_status text;
    v_held integer := 0;
    v_delta integer;
    v_expires timestamptz := p_now + p_ttl;
BEGIN
    SELECT status INTO v_status FROM store_cart WHERE id = p_cart FOR UPDATE;
    IF v_status IS DISTINCT FROM 'open' THEN
        RETURN;
    END IF;

    SELECT id, quantity, status, created_at
    INTO line_id, v_line_quantity, v_line_status, line_created_at
    FROM reservations_reservation
    WHERE cart_id = p_cart AND product_id = p_product AND status IN ('active', 'expired')
    FOR UPDATE;
    -- Units of the line still counted in `reserved`; see hold_set for why an expired
    -- line that was not reclaimed is checked as `on_hand - reserved >= quantity - held`.
    IF v_line_status = 'active' THEN
        v_held := v_line_quantity;
    END IF;
    v_delta := p_quantity - v_held;

    IF p_quantity = 0 THEN
        IF line_id IS NOT NULL THEN
            UPDATE reservations_reservation SET status = 'released', updated_at = p_now
            WHERE id = line_id;
        END IF;
    ELSIF line_id IS NULL THEN
        INSERT INTO reservations_reservation
            (cart_id, product_id, quantity, expires_at, status, created_at, updated_at)
        VALUES (p_cart, p_product, p_quantity, v_expires, 'active', p_now, p_now)
        RETURNING id, created_at INTO line_id, line_created_at;
    ELSE
        UPDATE reservations_reservation
        SET quantity = p_quantity, expires_at = v_expires, status = 'active', updated_at = p_now
        WHERE id = line_id;
    END IF;

    -- Sliding expiry of the cart's live holds; expired ones are not revived here.
    UPDATE reservations_reservation SET expires_at = v_expires, updated_at = p_now
    WHERE cart_id = p_cart AND status = 'active' AND expires_at > p_now;
    IF FOUND OR p_quantity > 0 THEN
        cart_expires_at := v_expires;
    END IF;
    UPDATE store_cart SET expires_at = cart_expires_at, updated_at = p_now WHERE id = p_cart;

    -- Last: the product row is locked from here to the commit at the end of the statement.
    IF v_delta > 0 THEN
        UPDATE store_inventory SET reserved = reserved + v_delta
        WHERE product_id = p_product AND on_hand - reserved >= v_delta;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'too little free stock for the fast path'
                USING ERRCODE = 'SH409';
        END IF;
    ELSIF v_delta < 0 THEN
        UPDATE store_inventory SET reserved = reserved + v_delta WHERE product_id = p_product;
    END IF;
    IF p_quantity = 0 THEN
        line_id := NULL;
        line_created_at := NULL;
    END IF;
    applied := true;
END
$$
"""

DROP = (
    "DROP FUNCTION IF EXISTS stockhold_hold_set(uuid, bigint, integer, timestamptz, interval)"
)


def _on_postgresql(sql):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(sql)

    return run


class Migration(migrations.Migration):
    dependencies = [
        ("reservations", "0002_release_run"),
        ("store", "0001_initial"),
    ]

    operations = [
        migrations.RunPython(_on_postgresql(CREATE), _on_postgresql(DROP), elidable=False),
    ]
