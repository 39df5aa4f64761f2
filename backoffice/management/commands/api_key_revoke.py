"""Revoke a back-office API key: `manage.py api_key_revoke --name NAME`."""

from django.core.management.base import BaseCommand, CommandError

from backoffice.models import ApiKey
from backoffice.services import api_key_revoke


class Command(BaseCommand):
    help = "Revoke a back-office API key: from now on it is refused with 401."

    def add_arguments(self, parser):
        parser.add_argument("--name", required=True, help="The key's name.")

    def handle(self, *args, name, **options):
        api_key = ApiKey.objects.filter(name=name).first()
        if api_key is None:
            raise CommandError(f"No API key is named {name}.")
        if api_key_revoke(api_key=api_key):
            self.stdout.write(self.style.SUCCESS(f"Revoked API key {name}."))
        else:
            self.stdout.write(f"API key {name} was revoked already.")
