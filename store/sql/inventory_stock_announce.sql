-- Announce that a product went out of stock or came back: the function of the triggers
-- store_inventory_stock_insert and store_inventory_stock_update (store migration 0007).
--
-- Both are constraint triggers, DEFERRABLE INITIALLY DEFERRED: they run at the commit of
-- a transaction that wrote on_hand or reserved, while it still holds that stock row's
-- lock, so the announcements of one product are made one at a time, in commit order.
-- Every write of stock (the hold, checkout, staff stock changes, cancellations, the
-- reclaim of expired holds by shoppers and by the release task) goes through them. Their
-- WHEN clause lets them fire only for a statement that flipped `on_hand - reserved > 0`
-- (for an insert: a new row with stock), so a hold that flips nothing pays nothing.
--
-- It reads the row as it is at the commit, not NEW: a transaction that went 0 -> 2 -> 0
-- ends where it began and announces nothing. The figure is the true one, with expired
-- holds not yet reclaimed counted as free (stockhold_inventory_available), and it is
-- compared with the last announcement, in_stock_announced. Only a difference records an
-- event (stockhold_event_record, in this transaction) and flips the flag, and writing the
-- flag does not fire the triggers again (they watch on_hand and reserved). So for each
-- product the announcements alternate: out of stock, back in stock, out of stock...
--
-- Time is the instant the trigger runs (clock_timestamp()), not the start of the
-- statement or the transaction, which may have waited for the row lock: under that lock
-- the announcements of a product are stamped in the order they were made.
CREATE OR REPLACE FUNCTION stockhold_inventory_stock_announce()
RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    v_on_hand integer;
    v_announced boolean;
    v_available bigint;
    v_sku text;
    v_now timestamptz := clock_timestamp();
BEGIN
    SELECT on_hand, in_stock_announced INTO v_on_hand, v_announced
    FROM store_inventory WHERE product_id = NEW.product_id;
    IF NOT FOUND THEN
        -- Deleted later in the same transaction: nothing left to announce.
        RETURN NULL;
    END IF;
    v_available := stockhold_inventory_available(NEW.product_id, v_now);
    IF (v_available > 0) = v_announced THEN
        RETURN NULL;
    END IF;
    UPDATE store_inventory SET in_stock_announced = (v_available > 0)
    WHERE product_id = NEW.product_id;
    SELECT sku INTO v_sku FROM store_product WHERE id = NEW.product_id;
    PERFORM stockhold_event_record(
        CASE WHEN v_available > 0 THEN 'stock.back_in_stock' ELSE 'stock.out_of_stock' END,
        jsonb_build_object(
            'product_id', NEW.product_id,
            'sku', v_sku,
            'available', v_available,
            'on_hand', v_on_hand
        ),
        v_now
    );
    RETURN NULL;
END
$$;
