from django.apps import AppConfig
from django.db.models.signals import post_migrate


class ReservationsConfig(AppConfig):
    name = "reservations"
    verbose_name = "Stock holds"

    def ready(self) -> None:
        # Imported here, not at the top: the schedule uses models, which can be imported
        # only once the app registry is ready.
        from reservations.schedule import _on_post_migrate

        # After `migrate`, the release schedule exists (staff can see and pause it).
        post_migrate.connect(_on_post_migrate, sender=self, dispatch_uid="release_schedule")
