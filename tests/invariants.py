"""The core invariant as the tests check it: the project's own check, never a copy."""

from reservations.services.reconcile import stock_drift_find


def assert_counters_exact() -> None:
    """Fail unless every product's `reserved` equals the units of its active holds."""
    drifts = stock_drift_find()
    assert drifts == [], f"reserved differs from the units in active holds: {drifts}"
