from django.apps import AppConfig
from django.db.models.signals import post_migrate


class MonitoringConfig(AppConfig):
    name = "monitoring"
    verbose_name = "Monitoring"

    def ready(self) -> None:
        # Imported here, not at the top: the handlers use models, which can be imported
        # only once the app registry is ready.
        from celery.signals import task_failure
        from django.contrib import admin

        from monitoring.signals import (
            cart_changed_poke,
            migrated,
            release_task_failed,
            webhook_delivery_given_up,
        )
        from reservations.signals import cart_changed
        from webhooks.signals import delivery_given_up

        task_failure.connect(release_task_failed, dispatch_uid="monitoring.release_task_failed")
        cart_changed.connect(cart_changed_poke, dispatch_uid="monitoring.cart_changed_poke")
        delivery_given_up.connect(
            webhook_delivery_given_up, dispatch_uid="monitoring.webhook_delivery_given_up"
        )
        post_migrate.connect(migrated, sender=self, dispatch_uid="monitoring.migrated")
        # The admin's home page shows the release job's state and links to the dashboard.
        # Only the template is set: the site's header and titles are configured elsewhere.
        admin.site.index_template = "admin/monitoring/index.html"
