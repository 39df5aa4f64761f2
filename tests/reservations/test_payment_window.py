"""A payment window: checkout holds the units for the payment, and a deadline that passes
gives them back at that instant, exactly like an expired hold, with or without a job."""

import threading
from datetime import timedelta

import pytest

from reservations.errors import OrderCancelled, PaymentWindowExpired
from reservations.models import Order, Reservation
from reservations.selectors import availability_get
from reservations.services import checkout, hold_set, order_cancel, order_confirm
from reservations.services.orders import pending_orders_expire
from reservations.services.release import release_run
from store.models import Inventory, StockMovement
from tests.factories import CartFactory, ProductFactory
from tests.invariants import assert_counters_exact

pytestmark = pytest.mark.django_db

WINDOW = 900


@pytest.fixture
def window(settings):
    settings.ORDER_PAYMENT_WINDOW_SECONDS = WINDOW
    return WINDOW


@pytest.fixture
def pending(window, now):
    """A pending order of 3 + 2 units of two products with 10 on hand each."""
    products = [ProductFactory(on_hand=10), ProductFactory(on_hand=10)]
    cart = CartFactory()
    hold_set(cart=cart, product=products[0], quantity=3, now=now)
    hold_set(cart=cart, product=products[1], quantity=2, now=now)
    order, created = checkout(cart=cart, now=now)
    assert created
    return order, products


def _figures(products, *, now):
    rows = {i.pk: (i.on_hand, i.reserved) for i in Inventory.objects.filter(pk__in=products)}
    return [(*rows[p.pk], availability_get(product=p, now=now)) for p in products]


def test_without_a_window_checkout_sells_at_once(now):
    product = ProductFactory(on_hand=10)
    cart = CartFactory()
    hold_set(cart=cart, product=product, quantity=3, now=now)
    order, _ = checkout(cart=cart, now=now)
    assert order.status == Order.Status.PLACED and order.payment_expires_at is None
    assert _figures([product], now=now) == [(7, 0, 7)]


def test_checkout_keeps_the_units_out_of_free_stock_until_the_deadline(pending, now):
    order, products = pending
    assert order.status == Order.Status.PENDING_PAYMENT
    assert order.payment_expires_at == now + timedelta(seconds=WINDOW)
    # Nothing is sold yet: the units stay held, the shelf and the ledger are unchanged.
    assert _figures(products, now=now) == [(10, 3, 7), (10, 2, 8)]
    assert not StockMovement.objects.filter(kind="sale").exists()
    later = now + timedelta(seconds=WINDOW - 1)
    assert _figures(products, now=later) == [(10, 3, 7), (10, 2, 8)]
    assert_counters_exact()


def test_the_deadline_frees_the_units_in_every_read_and_write_with_no_job(pending, now):
    order, products = pending
    after = order.payment_expires_at
    # At the instant of the deadline the units are free stock: reads...
    assert [f[2] for f in _figures(products, now=after)] == [10, 10]
    # ... and writes: another cart can hold all ten, and no release task ran.
    other = CartFactory()
    hold_set(cart=other, product=products[0], quantity=10, now=after)
    assert _figures(products[:1], now=after) == [(10, 10, 0)]
    with pytest.raises(PaymentWindowExpired):
        order_confirm(order=order, actor="test", now=after)
    assert_counters_exact()


def test_confirm_sells_the_units_once(pending, now):
    order, products = pending
    confirmed, changed = order_confirm(order=order, actor="api-key:psp", now=now)
    assert changed and confirmed.status == Order.Status.PLACED
    assert confirmed.confirmed_at == now
    assert _figures(products, now=now) == [(7, 0, 7), (8, 0, 8)]
    sales = StockMovement.objects.filter(kind="sale", reference=str(order.pk))
    assert sorted(sales.values_list("quantity", flat=True)) == [-3, -2]
    assert set(sales.values_list("actor", flat=True)) == {"api-key:psp"}
    # Confirming again changes nothing; the deadline no longer matters once paid.
    again, changed = order_confirm(
        order=order, actor="api-key:psp", now=now + timedelta(seconds=WINDOW * 2)
    )
    assert not changed and again.status == Order.Status.PLACED
    assert _figures(products, now=now) == [(7, 0, 7), (8, 0, 8)]
    assert StockMovement.objects.filter(kind="sale").count() == 2
    assert_counters_exact()


def test_cancel_of_a_pending_order_gives_the_units_back_without_a_ledger_move(pending, now):
    order, products = pending
    cancelled, changed = order_cancel(order=order, actor="api-key:psp", now=now)
    assert changed and cancelled.status == Order.Status.CANCELLED
    assert _figures(products, now=now) == [(10, 0, 10), (10, 0, 10)]
    assert not StockMovement.objects.filter(kind__in=["sale", "return"]).exists()
    assert set(Reservation.objects.values_list("status", flat=True)) == {"released"}
    again, changed = order_cancel(order=order, actor="api-key:psp", now=now)
    assert not changed and again.status == Order.Status.CANCELLED
    with pytest.raises(OrderCancelled):
        order_confirm(order=order, actor="api-key:psp", now=now)
    assert _figures(products, now=now) == [(10, 0, 10), (10, 0, 10)]
    assert_counters_exact()


def test_a_paid_order_is_cancelled_through_the_ledger(pending, now):
    order, products = pending
    order_confirm(order=order, actor="psp", now=now)
    order_cancel(order=order, actor="staff:ann", now=now)
    assert _figures(products, now=now) == [(10, 0, 10), (10, 0, 10)]
    returns = StockMovement.objects.filter(kind="return", reference=str(order.pk))
    assert sorted(returns.values_list("quantity", flat=True)) == [2, 3]
    assert_counters_exact()


def test_cancel_after_the_deadline_changes_nothing(pending, now):
    order, products = pending
    with pytest.raises(PaymentWindowExpired):
        order_cancel(order=order, actor="psp", now=order.payment_expires_at)
    order.refresh_from_db()
    assert order.status == Order.Status.PENDING_PAYMENT
    assert [f[2] for f in _figures(products, now=order.payment_expires_at)] == [10, 10]


def test_the_release_task_tidies_expired_pending_orders(pending, now):
    order, products = pending
    after = order.payment_expires_at + timedelta(seconds=1)
    run = release_run(now=after)
    assert (run.released, run.units, run.orders_expired) == (2, 5, 1)
    order.refresh_from_db()
    assert order.status == Order.Status.EXPIRED and order.expired_at == after
    assert _figures(products, now=after) == [(10, 0, 10), (10, 0, 10)]
    # Tidying is idempotent, and confirming or cancelling now answers the same refusal.
    assert pending_orders_expire(now=after) == 0
    with pytest.raises(PaymentWindowExpired):
        order_confirm(order=order, actor="psp", now=after)
    with pytest.raises(PaymentWindowExpired):
        order_cancel(order=order, actor="psp", now=after)
    assert_counters_exact()


def test_a_line_reclaimed_before_checkout_is_held_again_for_the_payment(window, now, ttl):
    product = ProductFactory(on_hand=5)
    cart = CartFactory()
    hold_set(cart=cart, product=product, quantity=4, now=now)
    later = now + timedelta(seconds=ttl + 1)
    release_run(now=later)  # the hold expired and was reclaimed
    assert _figures([product], now=later) == [(5, 0, 5)]
    order, _ = checkout(cart=cart, now=later)
    assert order.status == Order.Status.PENDING_PAYMENT
    assert _figures([product], now=later) == [(5, 4, 1)]
    order_confirm(order=order, actor="psp", now=later)
    assert _figures([product], now=later) == [(1, 0, 1)]
    assert_counters_exact()


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("offset", [-0.002, -0.001, 0.0, 0.001])
def test_confirm_against_expiry_at_the_deadline_one_wins(settings, offset):
    """Confirm and the release task race at the deadline on the database clock: either
    the order is sold and its units left the shelf, or it expired and its units are free;
    never both, never neither."""
    settings.ORDER_PAYMENT_WINDOW_SECONDS = 1
    product = ProductFactory(on_hand=10)
    cart = CartFactory()
    hold_set(cart=cart, product=product, quantity=4)
    order, _ = checkout(cart=cart)
    order.refresh_from_db()
    barrier = threading.Barrier(2)
    outcome: dict[str, object] = {}

    def confirm():
        from django.db import connection

        try:
            barrier.wait()
            outcome["confirm"] = order_confirm(order=order, actor="psp")[1]
        except PaymentWindowExpired:
            outcome["confirm"] = "expired"
        finally:
            connection.close()

    def expire():
        from django.db import connection

        try:
            barrier.wait()
            outcome["release"] = release_run().released
        finally:
            connection.close()

    from django.utils import timezone

    wait = (order.payment_expires_at - timezone.now()).total_seconds() + offset
    if wait > 0:
        threading.Event().wait(wait)
    threads = [threading.Thread(target=confirm), threading.Thread(target=expire)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    release_run()  # whatever the race left, tidy it
    order.refresh_from_db()
    inventory = Inventory.objects.get(pk=product.pk)
    if outcome["confirm"] is True:
        assert order.status == Order.Status.PLACED
        assert (inventory.on_hand, inventory.reserved) == (6, 0)
    else:
        assert outcome["confirm"] == "expired"
        assert order.status == Order.Status.EXPIRED
        assert (inventory.on_hand, inventory.reserved) == (10, 0)
    assert_counters_exact()


def test_storefront_checkout_answers_a_pending_order_and_the_cart_shows_its_lines(window, api):
    product = ProductFactory(on_hand=5)
    cart = CartFactory()
    hold_set(cart=cart, product=product, quantity=2)
    headers = {"HTTP_X_CART_TOKEN": cart.token, "HTTP_IDEMPOTENCY_KEY": "pay-1"}
    answer = api.post(f"/api/v1/carts/{cart.pk}/checkout/", **headers)
    assert answer.status_code == 201
    body = answer.json()
    order = Order.objects.get(pk=body["id"])
    assert body["status"] == "pending_payment"
    assert body["payment_expires_at"] is not None
    assert order.payment_expires_at.isoformat().replace("+00:00", "Z") == body[
        "payment_expires_at"
    ]
    again = api.post(f"/api/v1/carts/{cart.pk}/checkout/", **headers)
    assert again.status_code == 200 and again.json()["id"] == body["id"]
    shown = api.get(f"/api/v1/carts/{cart.pk}/", HTTP_X_CART_TOKEN=cart.token).json()
    assert shown["status"] == "checked_out" and shown["order_id"] == body["id"]
    assert [(i["sku"], i["quantity"], i["status"]) for i in shown["items"]] == [
        (product.sku, 2, "active")
    ]
    listed = api.get(f"/api/v1/products/{product.pk}/").json()
    assert listed["available"] == 3


def test_a_pending_order_past_its_deadline_shows_expired_before_any_run(window, api, now):
    product = ProductFactory(on_hand=5)
    cart = CartFactory()
    hold_set(cart=cart, product=product, quantity=2)
    checkout(cart=cart)
    Order.objects.update(payment_expires_at=now)  # long past
    Reservation.objects.update(expires_at=now)
    answer = api.post(f"/api/v1/carts/{cart.pk}/checkout/", HTTP_X_CART_TOKEN=cart.token)
    assert answer.status_code == 200 and answer.json()["status"] == "expired"
    shown = api.get(f"/api/v1/carts/{cart.pk}/", HTTP_X_CART_TOKEN=cart.token).json()
    assert [i["status"] for i in shown["items"]] == ["expired"]
    assert api.get(f"/api/v1/products/{product.pk}/").json()["available"] == 5


def test_monitoring_counts_unpaid_orders_past_their_deadline(window, settings, client, now):
    from monitoring.checks import backlog_get

    settings.RESERVATION_BACKLOG_ALERT_THRESHOLD = 1
    products = [ProductFactory(on_hand=5) for _ in range(2)]
    for product in products:
        cart = CartFactory()
        hold_set(cart=cart, product=product, quantity=1, now=now)
        checkout(cart=cart, now=now)
    overdue = now + timedelta(seconds=WINDOW + settings.RESERVATION_BACKLOG_GRACE_SECONDS + 1)
    backlog = backlog_get(now=overdue)
    assert (backlog.expired_holds, backlog.expired_orders, backlog.over) == (2, 2, True)
    assert "2 unpaid orders past their deadline" in backlog.summary()
    metrics = client.get("/metrics").content.decode()
    assert "stockhold_expired_backlog_orders 2.0" in metrics
    release_run(now=overdue)
    backlog = backlog_get(now=overdue)
    assert (backlog.expired_holds, backlog.expired_orders, backlog.over) == (0, 0, False)


def test_staff_confirm_and_cancel_pending_orders_in_the_admin(window, staff_client, now):
    product = ProductFactory(on_hand=5)
    cart = CartFactory()
    hold_set(cart=cart, product=product, quantity=2)
    order, _ = checkout(cart=cart)  # on the database clock: pending for 15 minutes
    expired_order = _pending_order_past_deadline(now)

    def act(action, *orders):
        return staff_client.post(
            "/admin/reservations/order/",
            {"action": action, "_selected_action": [str(o.pk) for o in orders]},
            follow=True,
        )

    answer = act("confirm_orders", order, expired_order)
    text = answer.content.decode()
    assert answer.status_code == 200
    assert "Confirmed 1 orders; 0 were confirmed already." in text
    assert f"Not confirmed: {expired_order.pk}" in text
    order.refresh_from_db()
    assert order.status == Order.Status.PLACED
    assert StockMovement.objects.filter(kind="sale", actor="staff:staff").count() == 1
    answer = act("cancel_orders", order, expired_order)
    text = answer.content.decode()
    assert "Cancelled 1 orders; 0 were cancelled already." in text
    assert f"Not cancelled: {expired_order.pk}" in text
    assert StockMovement.objects.filter(kind="return", actor="staff:staff").count() == 1
    page = staff_client.get(f"/admin/reservations/order/{order.pk}/change/")
    assert page.status_code == 200 and b"Payment expires at" in page.content
    assert_counters_exact()


def _pending_order_past_deadline(now) -> Order:
    product = ProductFactory(on_hand=3)
    cart = CartFactory()
    hold_set(cart=cart, product=product, quantity=1, now=now - timedelta(seconds=WINDOW * 2))
    order, _ = checkout(cart=cart, now=now - timedelta(seconds=WINDOW * 2))
    return order


def _events(type_prefix="order."):
    from webhooks.models import Event

    return [
        (event.type, event.data["order_id"], event.data["status"])
        for event in Event.objects.filter(type__startswith=type_prefix).order_by("created_at")
    ]


def test_every_way_an_order_goes_is_an_event_in_the_same_transaction(window, now):
    from webhooks.models import Delivery, Endpoint, Event

    endpoint = Endpoint.objects.create(url="https://shop.example.com/hooks", secret="s" * 32)
    products = [ProductFactory(on_hand=10, sku=f"EVT-{n}") for n in range(4)]
    orders = []
    for product in products:
        cart = CartFactory()
        hold_set(cart=cart, product=product, quantity=2, now=now)
        orders.append(checkout(cart=cart, now=now)[0])
    paid, cancelled, unpaid, refused = orders
    order_confirm(order=paid, actor="psp", now=now)
    order_confirm(order=paid, actor="psp", now=now)  # nothing new
    order_cancel(order=cancelled, actor="psp", now=now)
    after = now + timedelta(seconds=WINDOW + 1)
    with pytest.raises(PaymentWindowExpired):
        order_confirm(order=refused, actor="psp", now=after)
    release_run(now=after)

    assert sorted(_events()) == sorted([
        *[("order.created", str(o.pk), "pending_payment") for o in orders],
        ("order.confirmed", str(paid.pk), "placed"),
        ("order.cancelled", str(cancelled.pk), "cancelled"),
        ("order.expired", str(unpaid.pk), "expired"),
        ("order.expired", str(refused.pk), "expired"),
    ])
    event = Event.objects.get(type="order.confirmed")
    assert event.data == {
        "order_id": str(paid.pk),
        "cart_id": str(paid.cart_id),
        "status": "placed",
        "total": str(paid.total),
        "payment_expires_at": paid.payment_expires_at.isoformat().replace("+00:00", "Z"),
        "lines": [{"product_id": products[0].pk, "sku": "EVT-0", "quantity": 2}],
    }
    assert Delivery.objects.filter(endpoint=endpoint).count() == Event.objects.count()


def test_a_refused_change_records_no_event(window, now):
    from webhooks.models import Event

    product = ProductFactory(on_hand=1)
    cart = CartFactory()
    hold_set(cart=cart, product=product, quantity=1, now=now)
    order, _ = checkout(cart=cart, now=now)
    before = Event.objects.count()
    with pytest.raises(PaymentWindowExpired):
        order_cancel(order=order, actor="psp", now=now + timedelta(seconds=WINDOW))
    assert Event.objects.count() == before


def test_without_a_window_checkout_announces_a_placed_order(now):
    product = ProductFactory(on_hand=3)
    cart = CartFactory()
    hold_set(cart=cart, product=product, quantity=1, now=now)
    order, _ = checkout(cart=cart, now=now)
    order_cancel(order=order, actor="staff:ann", now=now)
    # One transaction (the test's): both events have its start as created_at, in no order.
    assert sorted(_events()) == sorted([
        ("order.created", str(order.pk), "placed"),
        ("order.cancelled", str(order.pk), "cancelled"),
    ])
