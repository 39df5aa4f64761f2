"""Every admin list shows times one way, `2026-12-06 14:05:09 UTC`, and long ids by their
first characters with the whole id on hover."""

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from django.contrib import admin
from django.db import models

from core.admin import short_id
from core.display import time_shown, time_until

AT = datetime(2026, 12, 6, 14, 5, 9, 750_000, tzinfo=UTC)


def test_times_are_24_hour_with_seconds_and_the_zone():
    assert time_shown(AT) == "2026-12-06 14:05:09 UTC"
    assert time_shown(AT, clock_only=True) == "14:05:09 UTC"
    assert time_shown(AT.replace(hour=0, minute=0, second=0)) == "2026-12-06 00:00:00 UTC"
    assert time_shown(None) == "-"


def test_times_are_shown_in_the_display_time_zone(settings):
    settings.TIME_ZONE = "Europe/Paris"
    assert time_shown(AT) == "2026-12-06 15:05:09 CET"


@pytest.mark.parametrize(
    ("ahead", "shown"),
    [
        (timedelta(minutes=4), "in 4 min"),
        (timedelta(minutes=3, seconds=50), "in 4 min"),
        (timedelta(seconds=40), "in 40 s"),
        (timedelta(hours=2, minutes=5), "in 2 h 5 min"),
        (timedelta(hours=1), "in 1 h"),
        (timedelta(0), "now"),
        (-timedelta(minutes=3), "now"),
    ],
)
def test_time_until_reads_at_a_glance(ahead, shown):
    assert time_until(AT + ahead, now=AT) == shown


def test_a_long_id_shows_its_first_characters_and_the_whole_id_on_hover():
    full = uuid.UUID("65f0b25e-294b-4088-9d24-8a0f234d9173")
    assert short_id(full) == '<span title="65f0b25e-294b-4088-9d24-8a0f234d9173">65f0b25e…</span>'
    assert short_id("abc") == "abc"
    assert short_id("") == short_id(None) == "-"
    assert "&lt;b&gt;" in short_id("<b>-and-more-text")


PROJECT_APPS = ("store", "reservations", "backoffice", "monitoring", "webhooks")


def test_no_admin_list_shows_a_time_field_raw():
    """A time field named in `list_display` would show Django's default format
    ("Dec. 6, 2026, 2:05 p.m."): every list of the project's apps goes through
    `time_column` instead."""
    lists = [
        (model, model_admin.list_display)
        for model, model_admin in admin.site._registry.items()
        if model._meta.app_label in PROJECT_APPS
    ]
    raw = [
        f"{model.__name__}.{name}"
        for model, list_display in lists
        for name in list_display
        if isinstance(name, str)
        and any(
            field.name == name and isinstance(field, models.DateTimeField)
            for field in model._meta.get_fields()
        )
    ]
    assert len(lists) >= 12 and raw == []
