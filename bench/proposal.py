"""Prototypes of the changes the benchmarks point to, measured beside the real code.

Nothing here is used by the application. Each prototype shows how far a proposed change
would move a ratio on this machine, in the same run, so the proposal in BENCHMARKS.md
rests on a measurement rather than a guess.

`hold_set_one_statement`: `reservations.services.hold_set`'s fast path as one PostgreSQL
function called in autocommit, so a hold is one round trip and the product row is locked
inside a single statement. Same steps, same order, same rules: lock
the cart, lock the open line, write it, renew the cart's live holds, then the conditional
counter update last. When the counter update finds too little stock it raises, nothing
is written, and the caller would fall back to the full service (reclaim, then retry),
which is rare and may stay in the ORM.
"""

from datetime import timedelta

from django.conf import settings
from django.db import connection
from django.utils import timezone

FUNCTION = """
CREATE OR REPLACE FUNCTION bench_hold_set(
    p_cart uuid, p_product bigint, p_quantity int, p_now timestamptz, p_ttl interval
) RETURNS int LANGUAGE plpgsql AS $$
DECLARE
    v_line_id bigint;
    v_line_quantity int;
    v_line_status text;
    v_has_line boolean;
    v_held int := 0;
    v_delta int;
    v_expires timestamptz := p_now + p_ttl;
BEGIN
    PERFORM 1 FROM store_cart WHERE id = p_cart AND status = 'open' FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'cart_closed' USING ERRCODE = 'P0002';
    END IF;
    SELECT id, quantity, status INTO v_line_id, v_line_quantity, v_line_status
    FROM reservations_reservation
    WHERE cart_id = p_cart AND product_id = p_product AND status IN ('active', 'expired')
    LIMIT 1 FOR UPDATE;
    v_has_line := FOUND;
    IF v_has_line AND v_line_status = 'active' THEN
        v_held := v_line_quantity;
    END IF;
    v_delta := p_quantity - v_held;

    IF p_quantity = 0 THEN
        IF v_has_line THEN
            UPDATE reservations_reservation SET status = 'released', updated_at = p_now
            WHERE id = v_line_id;
        END IF;
    ELSIF NOT v_has_line THEN
        INSERT INTO reservations_reservation
            (cart_id, product_id, quantity, expires_at, status, created_at, updated_at)
        VALUES (p_cart, p_product, p_quantity, v_expires, 'active', p_now, p_now);
    ELSE
        UPDATE reservations_reservation
        SET quantity = p_quantity, expires_at = v_expires, status = 'active', updated_at = p_now
        WHERE id = v_line_id;
    END IF;

    -- Sliding expiry of the cart's other live holds; expired ones are not revived.
    UPDATE reservations_reservation SET expires_at = v_expires, updated_at = p_now
    WHERE cart_id = p_cart AND status = 'active' AND expires_at > p_now;
    UPDATE store_cart SET expires_at = v_expires, updated_at = p_now WHERE id = p_cart;

    -- Last: the product row is locked from here to the end of this statement.
    IF v_delta > 0 THEN
        UPDATE store_inventory SET reserved = reserved + v_delta
        WHERE product_id = p_product AND on_hand - reserved >= v_delta;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'insufficient_stock' USING ERRCODE = 'P0003';
        END IF;
    ELSIF v_delta < 0 THEN
        UPDATE store_inventory SET reserved = reserved + v_delta WHERE product_id = p_product;
    END IF;
    RETURN v_delta;
END
$$
"""


def install() -> None:
    with connection.cursor() as cursor:
        cursor.execute(FUNCTION)


def hold_set_one_statement(*, cart, product, quantity: int, now=None) -> None:
    """One round trip in autocommit: the whole hold is one statement and one transaction."""
    now = now or timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT bench_hold_set(%s, %s, %s, %s, %s)",
            [cart.pk, product.pk, quantity, now,
             timedelta(seconds=settings.RESERVATION_TTL_SECONDS)],
        )
