"""Counting the expired backlog stays bounded however long it grows: health, metrics and the
end of a release run read at most the cap of index entries and never the whole table, and a
count that reached its cap says "at least"."""

from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from monitoring import checks
from monitoring.checks import BACKLOG_COUNT_CAP, backlog_get, hold_figures
from monitoring.services import backlog_alert_check
from reservations.services.release import expired_left
from tests.factories import expired_backlog_create

pytestmark = pytest.mark.django_db


def _backlog(holds: int):
    """`holds` active holds that expired well over the grace period ago, on one product."""
    return expired_backlog_create(
        products=1, carts=holds, expired_at=timezone.now() - timedelta(minutes=10)
    )


def _reads() -> dict[str, int]:
    """What this transaction has read of the holds so far: sequential scans of their table
    and entries of the partial index of active holds by expiry."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_stat_get_xact_numscans('reservations_reservation'::regclass),"
            " pg_stat_get_xact_tuples_returned('reservation_active_exp'::regclass)"
        )
        table_scans, entries = cursor.fetchone()
    return {"table_scans": table_scans, "index_entries": entries}


def _read_by(call) -> dict[str, int]:
    # The counters are the transaction's own: the call and both readings share one.
    with transaction.atomic():
        before = _reads()
        call()
        after = _reads()
    return {key: after[key] - before[key] for key in after}


@pytest.fixture
def past_the_cap(settings):
    settings.RESERVATION_BACKLOG_GRACE_SECONDS = 120
    settings.RESERVATION_BACKLOG_ALERT_THRESHOLD = 100
    _backlog(BACKLOG_COUNT_CAP + 1)


def test_health_reports_a_backlog_past_the_cap_as_at_least_the_cap(api, past_the_cap):
    response = api.get("/api/v1/health/")

    assert response.status_code == 503
    body = response.json()
    backlog = body["checks"]["backlog"]
    assert (backlog["expired_holds"], backlog["counted_up_to"]) == (10_000, 10_000)
    assert any(reason.startswith("at least 10000 expired holds") for reason in body["reasons"])


def test_the_backlog_alert_says_at_least(webhook, past_the_cap):
    assert backlog_alert_check() == 10_000
    assert "at least 10000 expired holds" in webhook.received[0]["text"]


def test_metrics_report_the_capped_backlog_and_say_so(client, past_the_cap):
    response = client.get("/metrics")

    families = {
        family.name: family
        for family in text_string_to_metric_families(response.content.decode())
    }
    backlog = families["stockhold_expired_backlog_holds"]
    assert backlog.samples[0].value == 10_000
    assert "Counted up to 10000: that figure means at least as many." in backlog.documentation
    assert "Counted up to 10000" in families["stockhold_expired_backlog_orders"].documentation
    # Below its own cap the count of active holds is exact, and so are the units.
    assert families["stockhold_active_holds"].samples[0].value == 10_001
    assert families["stockhold_held_units"].samples[0].value == 10_001


@pytest.mark.django_db(transaction=True)
def test_counting_reads_at_most_the_cap_and_never_the_table(settings):
    settings.RESERVATION_BACKLOG_GRACE_SECONDS = 120
    _backlog(BACKLOG_COUNT_CAP + 1)
    with connection.cursor() as cursor:
        # Committed and vacuumed, as a production backlog is.
        cursor.execute("VACUUM ANALYZE reservations_reservation")

    read = _read_by(backlog_get)
    assert read["table_scans"] == 0
    assert read["index_entries"] <= BACKLOG_COUNT_CAP

    # The end of a release run only asks whether any expired hold is left.
    read = _read_by(lambda: expired_left())
    assert read == {"table_scans": 0, "index_entries": 1}


def test_the_count_of_active_holds_stops_at_its_cap(monkeypatch):
    monkeypatch.setattr(checks, "ACTIVE_HOLDS_COUNT_CAP", 3)
    _backlog(5)
    assert hold_figures() == {"active_holds": 3, "held_units": 5}
