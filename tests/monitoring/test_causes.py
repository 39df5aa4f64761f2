"""Why the release job is stale: each cause, in the dashboard and in the stale alert."""

from datetime import timedelta

import pytest
import redis
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from devstack.servers import free_port
from monitoring.checks import QUEUE_WAITING_THRESHOLD, RELEASE_TASK, release_stale_causes
from monitoring.models import Alert
from monitoring.schedule import schedule_sync
from monitoring.services import stale_alert_check
from reservations.models import ReleaseRun

pytestmark = pytest.mark.django_db


@pytest.fixture
def beat_alive(installed_long_ago, settings, redis_url):
    """The schedule written, beat sending tasks just now, an empty queue of our own."""
    settings.CELERY_BROKER_URL = redis_url
    settings.CELERY_TASK_DEFAULT_QUEUE = "test-release-causes"
    client = redis.Redis.from_url(redis_url)
    client.delete("test-release-causes")
    schedule_sync()
    PeriodicTask.objects.update(last_run_at=timezone.now())
    yield client
    client.delete("test-release-causes")


def _codes(**kwargs) -> list[str]:
    return [cause.code for cause in release_stale_causes(**kwargs)]


def test_nothing_to_blame_when_schedule_beat_broker_and_runs_are_fine(beat_alive):
    assert _codes() == []


def test_the_release_task_disabled_in_the_admin(beat_alive):
    PeriodicTask.objects.filter(task=RELEASE_TASK).update(enabled=False)

    causes = release_stale_causes()

    assert [cause.code for cause in causes] == ["release_task_disabled"]
    assert "Release expired holds" in causes[0].text and "disabled" in causes[0].text


def test_the_release_task_missing_from_the_schedule(beat_alive):
    PeriodicTask.objects.filter(task=RELEASE_TASK).delete()

    assert _codes() == ["release_task_unscheduled"]


def test_beat_silent_when_no_task_was_sent_lately(beat_alive, settings):
    PeriodicTask.objects.update(last_run_at=timezone.now() - timedelta(hours=1))

    causes = release_stale_causes()

    assert [cause.code for cause in causes] == ["beat_silent"]
    assert "3600 s ago" in causes[0].text


def test_beat_silent_when_it_never_sent_a_task(beat_alive):
    PeriodicTask.objects.update(last_run_at=None)

    assert _codes() == ["beat_silent"]


def test_beat_still_judged_by_the_other_tasks_when_the_release_task_is_paused(beat_alive):
    PeriodicTask.objects.filter(task=RELEASE_TASK).update(
        enabled=False, last_run_at=timezone.now() - timedelta(days=1)
    )

    assert _codes() == ["release_task_disabled"]


def test_tasks_piling_up_in_the_queue_mean_no_worker_consumes_it(beat_alive):
    beat_alive.rpush("test-release-causes", *["message"] * QUEUE_WAITING_THRESHOLD)

    causes = release_stale_causes()

    assert [cause.code for cause in causes] == ["worker_not_consuming"]
    assert f"{QUEUE_WAITING_THRESHOLD} tasks wait" in causes[0].text


def test_a_few_queued_tasks_are_a_busy_worker_not_a_cause(beat_alive):
    beat_alive.rpush("test-release-causes", *["message"] * (QUEUE_WAITING_THRESHOLD - 1))

    assert _codes() == []


def test_an_unreachable_broker_is_named_within_the_timeout(beat_alive, settings):
    settings.CELERY_BROKER_URL = f"redis://127.0.0.1:{free_port()}/0"

    causes = release_stale_causes()

    assert [cause.code for cause in causes] == ["broker_unreachable"]
    assert "127.0.0.1" not in causes[0].text


def test_the_last_run_failed_with_its_error(beat_alive):
    ReleaseRun.objects.create(
        started_at=timezone.now() - timedelta(minutes=1),
        finished_at=timezone.now(),
        status=ReleaseRun.Status.FAILED,
        error="OperationalError: canceling statement due to lock timeout",
    )

    causes = release_stale_causes()

    assert [cause.code for cause in causes] == ["last_run_failed"]
    assert "canceling statement due to lock timeout" in causes[0].text


def test_the_last_run_never_finished(beat_alive):
    ReleaseRun.objects.create(started_at=timezone.now() - timedelta(hours=1))

    assert _codes() == ["last_run_unfinished"]


def test_the_stale_alert_says_why(beat_alive):
    PeriodicTask.objects.filter(task=RELEASE_TASK).update(enabled=False)

    assert stale_alert_check() is True

    alert = Alert.objects.get(key="release_job_stale")
    assert "Why: The periodic task" in alert.message and "is disabled" in alert.message
    assert [cause["code"] for cause in alert.context["causes"]] == ["release_task_disabled"]


def test_the_stale_alert_goes_out_when_the_causes_cannot_be_read(beat_alive, monkeypatch):
    from monitoring import services

    def broken(**kwargs):
        raise RuntimeError("schedule table gone")

    monkeypatch.setattr(services, "release_stale_causes", broken)

    assert stale_alert_check() is True

    alert = Alert.objects.get(key="release_job_stale")
    assert "No cause found from here" in alert.message and alert.context["causes"] == []


def test_the_dashboard_lists_the_causes_of_a_stale_job(beat_alive, staff_client):
    PeriodicTask.objects.filter(task=RELEASE_TASK).update(enabled=False)
    beat_alive.rpush("test-release-causes", *["message"] * 7)

    html = staff_client.get("/admin/monitoring/dashboard/").content.decode()

    assert 'id="stale-causes"' in html
    assert 'data-cause="release_task_disabled"' in html
    assert "7 tasks wait in the Celery queue" in html


def test_a_fresh_job_shows_no_causes(beat_alive, staff_client):
    now = timezone.now()
    ReleaseRun.objects.create(started_at=now, finished_at=now, status=ReleaseRun.Status.SUCCEEDED)
    PeriodicTask.objects.filter(task=RELEASE_TASK).update(enabled=False)

    html = staff_client.get("/admin/monitoring/dashboard/").content.decode()

    assert 'id="stale-causes"' not in html
