"""Subprocess: drain the expired backlog with the project's release task; print JSON.

Runs `reservations.tasks.release_expired_reservations` in this process (Celery's
`apply`, the same code a worker runs) with a time budget large enough for the whole
backlog, then reports the run's figures and this process's peak RSS.
"""

import json
import os
import resource
import sys
import time


def main() -> None:
    from bench.common import django_setup

    # The budget of one run; the default 45 s would stop it after part of the backlog.
    os.environ["RESERVATION_RELEASE_MAX_RUN_SECONDS"] = sys.argv[1] if len(sys.argv) > 1 else "3600"
    os.environ["RESERVATION_RELEASE_SOFT_TIME_LIMIT"] = "7200"
    os.environ["RESERVATION_RELEASE_TIME_LIMIT"] = "7300"
    django_setup()
    from reservations.tasks import release_expired_reservations

    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started_wall = time.time()
    began = time.perf_counter()
    result = release_expired_reservations.apply(throw=True).get()
    seconds = time.perf_counter() - began
    print(json.dumps({
        "released": result["released"],
        "units": result["units"],
        "more_left": result["more_left"],
        "seconds": seconds,
        "started_at": started_wall,
        "finished_at": started_wall + seconds,
        "rss_before_drain_mb": rss_before / 1024,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }))


if __name__ == "__main__":
    main()
