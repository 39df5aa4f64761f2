"""The core invariant as the tests check it: the project's own check, never a copy."""

from reservations.services.reconcile import stock_drift_find


def assert_counters_exact() -> None:
    """Fail unless every product's `reserved` equals the units of its active holds, its
    `on_hand` the sum of its ledger movements, and it has a stock row."""
    drifts = stock_drift_find()
    assert drifts == [], f"counters differ from holds or ledger: {[d.problem for d in drifts]}"
