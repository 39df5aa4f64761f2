"""Report products whose counters differ from their holds or ledger; --repair fixes `reserved`."""

import sys

from django.core.management.base import BaseCommand

from monitoring.services import stock_drift_alert_check
from reservations.services.reconcile import stock_drift_find, stock_drift_repair


class Command(BaseCommand):
    help = (
        "Compare every product's reserved counter with the sum of its active holds, and its "
        "on-hand stock with the sum of its ledger movements. Reports drift (and alerts); "
        "--repair sets the reserved counter under the row lock (on hand against the ledger "
        "needs a count). Exits 1 when drift remains."
    )

    def add_arguments(self, parser):
        parser.add_argument("--repair", action="store_true", help="Fix the drift found.")

    def handle(self, *args, repair: bool, **options):
        drifts = stock_drift_alert_check() if not repair else stock_drift_find()
        if not drifts:
            self.stdout.write(
                self.style.SUCCESS("No drift: every counter matches its holds and its ledger.")
            )
            return
        for drift in drifts:
            self.stdout.write(f"{drift.sku}: {drift.problem}")
        if not repair:
            self.stdout.write(self.style.ERROR(f"{len(drifts)} products drifted."))
            sys.exit(1)
        for drift in drifts:
            repaired = stock_drift_repair(product_id=drift.product_id)
            if repaired:
                self.stdout.write(
                    f"repaired {repaired.sku}: reserved {repaired.reserved} -> "
                    f"{repaired.active_units}"
                )
        left = stock_drift_find()
        if left:
            self.stdout.write(self.style.ERROR(f"{len(left)} products still drifted."))
            sys.exit(1)
        stock_drift_alert_check()
        self.stdout.write(self.style.SUCCESS(f"Repaired {len(drifts)} products."))
