from django.apps import AppConfig
from django.db.models.signals import post_migrate


class MonitoringConfig(AppConfig):
    name = "monitoring"
    verbose_name = "Monitoring"

    def ready(self) -> None:
        from celery.signals import task_failure

        from monitoring.schedule import _on_post_migrate
        from monitoring.signals import release_task_failed

        task_failure.connect(release_task_failed, dispatch_uid="monitoring.release_task_failed")
        # After `migrate` the periodic tasks exist, so staff can see and pause them.
        post_migrate.connect(_on_post_migrate, sender=self, dispatch_uid="beat_schedule")
