"""Release expired holds by hand: the same service the scheduled task runs."""

from django.core.management.base import BaseCommand

from reservations.services.release import expired_count, release_run


class Command(BaseCommand):
    help = "Release expired holds now (the scheduled task's work), or count them with --dry-run."

    def add_arguments(self, parser):
        parser.add_argument(
            "--dry-run", action="store_true", help="Only count the expired holds."
        )

    def handle(self, *args, dry_run, **options):
        if dry_run:
            figures = expired_count()
            self.stdout.write(
                f"{figures['holds']} expired holds ({figures['units']} units) would be released."
            )
            return
        run = release_run(task_id="manual")
        more = " More are left for the next run." if run.more_left else ""
        self.stdout.write(
            self.style.SUCCESS(
                f"Released {run.released} expired holds ({run.units} units) "
                f"in {run.batches} batches.{more}"
            )
        )
