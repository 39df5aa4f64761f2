-- Record an event and one pending delivery of it to every active endpoint subscribed to
-- its type (an endpoint with no types takes every type), in the caller's transaction:
-- the transactional outbox. The event and its deliveries commit with the change they
-- announce, or not at all. The worker sends the deliveries afterwards, at least once.
--
-- Callers: webhooks.services.event_record (order events, from Python) and the stock
-- trigger on store_inventory (store/sql/inventory_stock_announce.sql). The type is checked
-- by webhook_event_type_known. Time is p_now, or the database clock. Returns the event id,
-- which receivers de-duplicate by.
CREATE OR REPLACE FUNCTION stockhold_event_record(
    p_type text,
    p_data jsonb,
    p_now timestamptz DEFAULT NULL
) RETURNS uuid LANGUAGE plpgsql AS $$
DECLARE
    v_id uuid := gen_random_uuid();
    v_now timestamptz := coalesce(p_now, statement_timestamp());
BEGIN
    INSERT INTO webhooks_event (id, type, data, created_at)
    VALUES (v_id, p_type, p_data, v_now);
    INSERT INTO webhooks_delivery
        (event_id, endpoint_id, status, attempts, next_attempt_at, last_error, created_at)
    SELECT v_id, e.id, 'pending', 0, v_now, '', v_now
    FROM webhooks_endpoint e
    WHERE e.is_active AND (cardinality(e.event_types) = 0 OR p_type = ANY (e.event_types))
    ORDER BY e.id;
    RETURN v_id;
END
$$;
