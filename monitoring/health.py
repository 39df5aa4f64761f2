"""Health checks shared by the endpoint and the command line."""

from django.db import connection


def database_check() -> dict:
    """Return whether the database answers a trivial query."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # noqa: BLE001 - any failure means unhealthy
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
    return {"ok": True}


def health_report() -> dict:
    """Return every check with its figures and whether all passed."""
    checks = {"database": database_check()}
    return {"healthy": all(check["ok"] for check in checks.values()), "checks": checks}
