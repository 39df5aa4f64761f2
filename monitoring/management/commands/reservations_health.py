"""Print the health report; exit 1 when unhealthy (for cron, probes or a shell)."""

import json
import sys

from django.core.management.base import BaseCommand
from django.core.serializers.json import DjangoJSONEncoder

from monitoring.health import health_report


class Command(BaseCommand):
    help = "Print the same report as /api/v1/health/ and exit non-zero when unhealthy."

    def add_arguments(self, parser):
        parser.add_argument(
            "--json", action="store_true", dest="as_json", help="Print the report as JSON."
        )

    def handle(self, *args, as_json: bool = False, **options):
        report = health_report(use_cache=False)
        if as_json:
            self.stdout.write(json.dumps(report, cls=DjangoJSONEncoder, indent=2))
        else:
            self._print(report)
        if not report["healthy"]:
            sys.exit(1)

    def _print(self, report: dict) -> None:
        checks = report["checks"]
        style = self.style.SUCCESS if report["healthy"] else self.style.ERROR
        self.stdout.write(style(f"status: {report['status']}"))
        for reason in report["reasons"]:
            self.stdout.write(f"  - {reason}")
        for name, check in checks.items():
            figures = {k: v for k, v in check.items() if k != "ok"}
            mark = "ok" if check["ok"] else "FAIL"
            self.stdout.write(f"{name:12} {mark:4} {_json_line(figures)}")


def _json_line(figures: dict) -> str:
    return json.dumps(figures, cls=DjangoJSONEncoder, sort_keys=True)
