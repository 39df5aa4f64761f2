"""Application configs of the project itself."""

from django.apps import AppConfig
from django.contrib.admin.apps import AdminConfig as DjangoAdminConfig
from django.db.models.signals import post_migrate


class AdminConfig(DjangoAdminConfig):
    """django.contrib.admin with the project's site as `admin.site`."""

    default_site = "config.admin.StockholdAdminSite"


class ProjectConfig(AppConfig):
    """The project as a whole: what `migrate` sets up beyond the apps' own tables."""

    name = "config"
    label = "stockhold"
    verbose_name = "stockhold"

    def ready(self) -> None:
        from config.database import migrated

        post_migrate.connect(migrated, sender=self, dispatch_uid="config.database.migrated")
