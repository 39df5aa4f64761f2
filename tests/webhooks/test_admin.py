"""Admin pages of the webhooks: they render, endpoints go through the services, and the
"retry now" action makes deliveries due."""

from datetime import timedelta

import pytest
from django.utils import timezone

from webhooks.models import Delivery, Endpoint, Event, EventType
from webhooks.services import endpoint_create, event_record

pytestmark = pytest.mark.django_db


@pytest.fixture
def outbox():
    """Two endpoints and deliveries in every state."""
    shop, _ = endpoint_create(url="https://shop.example.com/in", event_types=[], description="shop")
    erp, _ = endpoint_create(
        url="https://erp.example.com/in", event_types=[EventType.ORDER_CREATED], description="erp"
    )
    for n in range(3):
        event_record(type=EventType.ORDER_CREATED, data={"order_id": n})
    event_record(type=EventType.STOCK_OUT_OF_STOCK, data={"product_id": 1, "sku": "PEN",
                                                           "available": 0, "on_hand": 4})
    later = timezone.now() + timedelta(hours=1)
    first, second = Delivery.objects.filter(endpoint=shop).order_by("pk")[:2]
    Delivery.objects.filter(pk=first.pk).update(
        status="failed", attempts=9, last_status_code=500, last_error="HTTP 500: down",
        next_attempt_at=later,
    )
    Delivery.objects.filter(pk=second.pk).update(status="delivered", attempts=1,
                                                 last_status_code=204, next_attempt_at=later)
    return {"shop": shop, "erp": erp, "failed": first, "delivered": second}


@pytest.mark.parametrize(
    "url",
    [
        "/admin/webhooks/endpoint/",
        "/admin/webhooks/endpoint/add/",
        "/admin/webhooks/delivery/",
        "/admin/webhooks/delivery/?status__exact=failed",
        "/admin/webhooks/delivery/?type=order.created",
        "/admin/webhooks/event/",
        "/admin/webhooks/event/?type__exact=stock.out_of_stock",
    ],
)
def test_pages_render_with_a_bounded_number_of_queries(
    staff_client, outbox, url, django_assert_max_num_queries
):
    with django_assert_max_num_queries(12):
        response = staff_client.get(url)
    assert response.status_code == 200


def test_the_delivery_list_shows_what_staff_need(staff_client, outbox):
    response = staff_client.get("/admin/webhooks/delivery/?status__exact=failed")
    page = response.content.decode()

    assert '<td class="field-event_type">order.created</td>' in page
    assert '<td class="field-attempts">9</td>' in page
    assert '<td class="field-last_status_code">500</td>' in page
    assert "HTTP 500: down" in page


def test_endpoint_and_event_pages_show_the_secret_and_the_deliveries(staff_client, outbox):
    shop = outbox["shop"]
    page = staff_client.get(f"/admin/webhooks/endpoint/{shop.pk}/change/").content.decode()
    assert shop.secret in page

    event = Event.objects.filter(type=EventType.STOCK_OUT_OF_STOCK).get()
    page = staff_client.get(f"/admin/webhooks/event/{event.pk}/change/").content.decode()
    # Its data, and its one delivery (the endpoint taking every type) inline.
    assert "PEN" in page
    [delivery] = event.deliveries.all()
    assert delivery.endpoint == shop
    assert f"/admin/webhooks/delivery/{delivery.pk}/change/" in page


def test_staff_add_an_endpoint_through_the_service(staff_client):
    response = staff_client.post(
        "/admin/webhooks/endpoint/add/",
        {"url": "https://new.example.com/hooks", "event_types": ["order.created",
                                                                 "stock.back_in_stock"],
         "description": "new", "is_active": "on"},
    )

    assert response.status_code == 302
    endpoint = Endpoint.objects.get()
    assert endpoint.event_types == ["stock.back_in_stock", "order.created"]
    assert endpoint.secret.startswith("whsec_")
    page = staff_client.get(f"/admin/webhooks/endpoint/{endpoint.pk}/change/").content.decode()
    assert endpoint.secret in page


def test_a_url_the_service_refuses_is_a_form_error(staff_client):
    response = staff_client.post(
        "/admin/webhooks/endpoint/add/",
        {"url": "ftp://files.example.com/", "description": "", "is_active": "on"},
    )

    assert response.status_code == 200
    assert "http:// or https://" in response.content.decode()
    assert Endpoint.objects.count() == 0


def test_staff_deactivate_an_endpoint_and_rotate_its_secret(staff_client, outbox):
    shop = outbox["shop"]
    old = shop.secret

    staff_client.post("/admin/webhooks/endpoint/", {
        "action": "rotate_secret", "_selected_action": [shop.pk],
    })
    staff_client.post("/admin/webhooks/endpoint/", {
        "action": "deactivate", "_selected_action": [shop.pk],
    })

    shop.refresh_from_db()
    assert shop.secret != old and not shop.is_active
    assert staff_client.get(f"/admin/webhooks/endpoint/{shop.pk}/delete/").status_code == 403


def test_retry_now_makes_the_selected_failed_delivery_due(staff_client, outbox):
    failed, delivered = outbox["failed"], outbox["delivered"]

    response = staff_client.post(
        "/admin/webhooks/delivery/",
        {"action": "retry_now", "_selected_action": [failed.pk, delivered.pk]},
        follow=True,
    )

    assert "1 deliveries are due now" in response.content.decode()
    failed.refresh_from_db()
    delivered.refresh_from_db()
    assert failed.status == "pending" and failed.next_attempt_at <= timezone.now()
    assert delivered.status == "delivered"


def test_deliveries_and_events_cannot_be_changed_by_hand(staff_client, outbox):
    delivery = outbox["failed"]
    response = staff_client.post(
        f"/admin/webhooks/delivery/{delivery.pk}/change/", {"status": "delivered"}
    )
    assert response.status_code == 403
    assert staff_client.get("/admin/webhooks/event/add/").status_code == 403
