"""How times are shown to people: one format everywhere, `2026-12-06 14:05:09 UTC`
(24-hour, seconds, the display time zone named)."""

from datetime import datetime

from django.utils import dateformat, timezone

TIME_FORMAT = "Y-m-d H:i:s T"
CLOCK_FORMAT = "H:i:s T"
EMPTY = "-"


def time_shown(value: datetime | None, *, clock_only: bool = False) -> str:
    """Return `value` in the display time zone: `2026-12-06 14:05:09 UTC`, or with
    `clock_only` `14:05:09 UTC`."""
    if value is None:
        return EMPTY
    return dateformat.format(
        timezone.localtime(value), CLOCK_FORMAT if clock_only else TIME_FORMAT
    )


def time_until(value: datetime, *, now: datetime) -> str:
    """Return how long from `now` to `value` in words read at a glance: `in 40 s`,
    `in 4 min`, `in 2 h 5 min`; `now` once it has passed."""
    seconds = round((value - now).total_seconds())
    if seconds <= 0:
        return "now"
    if seconds < 60:
        return f"in {seconds} s"
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"in {minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"in {hours} h {minutes} min" if minutes else f"in {hours} h"
