"""The admin site: stockhold's name on every page, and "View site" leading to the API docs."""

from django.contrib import admin
from django.urls import reverse_lazy


class StockholdAdminSite(admin.AdminSite):
    """The default admin site (`admin.site`), branded; config.apps.AdminConfig installs it."""

    site_header = "stockhold"
    site_title = "stockhold"
    index_title = "stockhold administration"
    # The service has no storefront of its own: its "site" is the API.
    site_url = reverse_lazy("docs")
    # Lists get the whole width: at 1366 px the sidebar would push the product list's stock
    # columns out of view. The index and the breadcrumbs lead everywhere it did.
    enable_nav_sidebar = False
