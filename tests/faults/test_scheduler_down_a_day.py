"""Beat and the worker down for a day: the clock moves 24 hours with nobody releasing."""

import pytest
from django.db.models import Sum

from monitoring.checks import backlog_count
from monitoring.services import health_alerts_run
from reservations.models import Cart, ReleaseRun, Reservation
from reservations.services import hold_set
from reservations.services.release import release_run
from store.models import Inventory
from store.services import product_create

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(60)]

CARTS = 60  # per product: 120 holds, over the alert threshold of 100


def _counters_exact() -> bool:
    for inventory in Inventory.objects.all():
        active = (
            Reservation.objects.filter(
                product_id=inventory.product_id, status=Reservation.Status.ACTIVE
            ).aggregate(units=Sum("quantity"))["units"]
            or 0
        )
        if inventory.reserved != active:
            return False
    return True


def test_a_day_without_the_scheduler(settings, clock, api, webhook):
    settings.RESERVATION_TTL_SECONDS = 1800
    settings.RESERVATION_BACKLOG_GRACE_SECONDS = 120
    settings.RESERVATION_BACKLOG_ALERT_THRESHOLD = 100
    settings.RESERVATION_RELEASE_STALE_SECONDS = 180

    # The last release run before beat died; then shoppers fill the shelves.
    assert release_run().status == ReleaseRun.Status.SUCCEEDED
    shelves = [
        product_create(sku=f"DAY-{i}", name=f"Day {i}", price=3, on_hand=CARTS * 2)
        for i in range(2)
    ]
    for product in shelves:
        for _ in range(CARTS):
            hold_set(cart=Cart.objects.create(token_hash="x" * 64), product=product, quantity=2)
    last_one = product_create(sku="DAY-LAST", name="Last", price=9, on_hand=4)
    hold_set(cart=Cart.objects.create(token_hash="y" * 64), product=last_one, quantity=4)
    assert health_alerts_run() == {"backlog": 0, "release_stale": False, "drifted_products": 0}
    assert webhook.sent() == []
    assert api.get(f"/api/v1/products/{last_one.pk}/").json()["available"] == 0

    # A day passes: no run, no cleanup. Every hold expired long ago.
    clock.advance(24 * 3600)
    for product in [*shelves, last_one]:
        body = api.get(f"/api/v1/products/{product.pk}/").json()
        assert body["available"] == product.inventory.on_hand, body
    # A shopper buys the whole of the last product: the expired hold is no obstacle.
    cart = api.post("/api/v1/carts/").json()
    response = api.put(
        f"/api/v1/carts/{cart['id']}/items/{last_one.pk}/",
        {"quantity": 4},
        format="json",
        HTTP_X_CART_TOKEN=cart["token"],
    )
    assert response.status_code == 200, response.content
    response = api.post(f"/api/v1/carts/{cart['id']}/checkout/", HTTP_X_CART_TOKEN=cart["token"])
    assert response.status_code == 201, response.content
    assert _counters_exact()

    # The health check runs every minute for ten minutes: one alert of each kind.
    for _ in range(10):
        figures = health_alerts_run(now=clock())
        assert figures["backlog"] == 2 * CARTS and figures["release_stale"] is True
        clock.advance(60)
    assert sorted(webhook.sent()) == [
        ("release_job_stale", "problem"),
        ("reservation_backlog", "problem"),
    ]

    # Beat is back: one run drains the backlog, and each alert recovers once.
    run = release_run(now=clock())
    assert (run.status, run.released, run.more_left) == (
        ReleaseRun.Status.SUCCEEDED,
        2 * CARTS,
        False,
    )
    assert backlog_count(now=clock()) == 0
    assert _counters_exact()
    assert Inventory.objects.aggregate(total=Sum("reserved"))["total"] == 0
    for _ in range(3):
        clock.advance(60)
        assert health_alerts_run(now=clock()) == {
            "backlog": 0,
            "release_stale": False,
            "drifted_products": 0,
        }
    assert sorted(webhook.sent()[2:]) == [
        ("release_job_stale", "recovery"),
        ("reservation_backlog", "recovery"),
    ]
    assert len(webhook.sent()) == 4


def test_unpaid_orders_through_a_day_without_the_scheduler(settings, clock, api, webhook):
    """Checkout holds units for the payment; with nobody releasing, the deadline alone gives
    them back, and the first run afterwards marks the orders expired."""
    from reservations.errors import PaymentWindowExpired
    from reservations.models import Order
    from reservations.services import checkout, order_confirm

    settings.ORDER_PAYMENT_WINDOW_SECONDS = 900
    settings.RESERVATION_BACKLOG_ALERT_THRESHOLD = 3
    assert release_run().status == ReleaseRun.Status.SUCCEEDED
    product = product_create(sku="DAY-PAY", name="Pay", price=5, on_hand=10)
    orders = []
    for _ in range(5):
        cart = Cart.objects.create(token_hash="z" * 64)
        hold_set(cart=cart, product=product, quantity=2)
        orders.append(checkout(cart=cart)[0])
    assert {o.status for o in orders} == {Order.Status.PENDING_PAYMENT}
    assert api.get(f"/api/v1/products/{product.pk}/").json()["available"] == 0

    clock.advance(24 * 3600)
    assert api.get(f"/api/v1/products/{product.pk}/").json()["available"] == 10
    with pytest.raises(PaymentWindowExpired):
        order_confirm(order=orders[0], actor="psp")
    cart = api.post("/api/v1/carts/").json()
    response = api.put(
        f"/api/v1/carts/{cart['id']}/items/{product.pk}/",
        {"quantity": 10},
        format="json",
        HTTP_X_CART_TOKEN=cart["token"],
    )
    assert response.status_code == 200, response.content
    assert _counters_exact()
    health_alerts_run(now=clock())
    assert ("reservation_backlog", "problem") in webhook.sent()
    assert any("5 unpaid orders" in body["text"] for body in webhook.received)

    run = release_run()
    # The shopper's hold reclaimed the orders' holds already; the run marks the orders.
    assert (run.released, run.orders_expired) == (0, 5)
    assert set(Order.objects.values_list("status", flat=True)) == {Order.Status.EXPIRED}
    assert _counters_exact()
