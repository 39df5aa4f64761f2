"""Pruning: what ended long ago is deleted in small batches; orders and live data stay."""

from datetime import timedelta

import pytest
from django.utils import timezone

from monitoring.models import Alert
from monitoring.services import records_prune
from reservations.models import Cart, Order, ReleaseRun, Reservation
from reservations.services import checkout, hold_set
from tests.factories import CartFactory, ProductFactory
from tests.invariants import assert_counters_exact

pytestmark = pytest.mark.django_db

DAYS = 30


def _age(queryset, days: float, field: str = "updated_at") -> None:
    queryset.update(**{field: timezone.now() - timedelta(days=days)})


@pytest.fixture
def history(settings):
    """Old and recent: carts, holds in every state, an order, release runs and alerts."""
    settings.PRUNE_RETENTION_DAYS = DAYS
    product = ProductFactory(on_hand=50)
    old_empty, recent_empty = CartFactory(), CartFactory()
    old_buyer = CartFactory()
    hold_set(cart=old_buyer, product=product, quantity=2)
    order, _ = checkout(cart=old_buyer)
    old_emptied = CartFactory()
    hold_set(cart=old_emptied, product=product, quantity=1)
    hold_set(cart=old_emptied, product=product, quantity=0)  # a released hold
    old_holder = CartFactory()
    hold_set(cart=old_holder, product=product, quantity=3)  # still active: never pruned
    everything = [old_empty, old_buyer, old_emptied, old_holder]
    _age(Cart.objects.filter(pk__in=[c.pk for c in everything]), DAYS + 1)
    _age(Reservation.objects.all(), DAYS + 1)
    _age(Cart.objects.filter(pk=recent_empty.pk), DAYS - 1)
    for days in (DAYS + 1, DAYS - 1):
        at = timezone.now() - timedelta(days=days)
        ReleaseRun.objects.create(started_at=at, finished_at=at, status="succeeded")
        Alert.objects.create(key="k", title="t", created_at=at)
    return {
        "order": order, "old_empty": old_empty, "recent_empty": recent_empty,
        "old_buyer": old_buyer, "old_emptied": old_emptied, "old_holder": old_holder,
    }


def test_old_ended_records_go_and_everything_else_stays(history):
    counts = records_prune()

    assert counts == {
        "holds": 2, "carts": 2, "release_runs": 1, "alerts": 1, "webhook_events": 0
    }
    assert set(Cart.objects.values_list("pk", flat=True)) == {
        history["recent_empty"].pk, history["old_buyer"].pk, history["old_holder"].pk
    }
    # The order and its cart stay; so does the cart that still holds stock, with its hold.
    assert Order.objects.filter(pk=history["order"].pk).exists()
    assert list(Reservation.objects.values_list("status", flat=True)) == ["active"]
    assert ReleaseRun.objects.count() == 1 and Alert.objects.count() == 1
    assert_counters_exact()


def test_pruning_works_in_batches_and_a_second_run_finds_nothing(history, settings):
    settings.PRUNE_BATCH_SIZE = 1
    assert records_prune() == {
        "holds": 2, "carts": 2, "release_runs": 1, "alerts": 1, "webhook_events": 0
    }
    assert records_prune() == {
        "holds": 0, "carts": 0, "release_runs": 0, "alerts": 0, "webhook_events": 0
    }


def test_pruning_runs_daily_on_beat(settings):
    from config.celery import app

    app.loader.import_default_modules()
    entry = settings.CELERY_BEAT_SCHEDULE["Prune old records"]
    assert entry["task"] in app.tasks
    assert entry["schedule"] == 24 * 3600


@pytest.mark.django_db(transaction=True)
def test_pruning_skips_what_a_shopper_has_locked_instead_of_waiting(settings):
    import threading

    from django.db import connections

    settings.PRUNE_RETENTION_DAYS = DAYS
    busy, idle = CartFactory(), CartFactory()
    _age(Cart.objects.all(), DAYS + 1)
    locked, release = threading.Event(), threading.Event()

    def shopper():
        connection = connections.create_connection("default")
        try:
            with connection.cursor() as cursor:
                cursor.execute("BEGIN")
                cursor.execute("SELECT id FROM store_cart WHERE id = %s FOR UPDATE", [busy.pk])
                locked.set()
                release.wait(10)
                cursor.execute("ROLLBACK")
        finally:
            connection.close()

    thread = threading.Thread(target=shopper)
    thread.start()
    try:
        assert locked.wait(10)
        assert records_prune()["carts"] == 1  # not waiting for the shopper's lock
    finally:
        release.set()
        thread.join()
    assert list(Cart.objects.values_list("pk", flat=True)) == [busy.pk]
    assert not Cart.objects.filter(pk=idle.pk).exists()
