from django.apps import AppConfig


class MonitoringConfig(AppConfig):
    name = "monitoring"
    verbose_name = "Monitoring"

    def ready(self) -> None:
        from celery.signals import task_failure

        from monitoring.signals import release_task_failed

        task_failure.connect(release_task_failed, dispatch_uid="monitoring.release_task_failed")
