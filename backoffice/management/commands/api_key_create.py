"""Create a back-office API key: `manage.py api_key_create --name NAME`; prints it once."""

from django.core.management.base import BaseCommand, CommandError

from backoffice.services import api_key_create
from core.errors import DomainError


class Command(BaseCommand):
    help = "Create a back-office API key and print it; it is never shown again."

    def add_arguments(self, parser):
        parser.add_argument(
            "--name", required=True, help="Who uses the key, e.g. erp; names its ledger rows."
        )

    def handle(self, *args, name, **options):
        try:
            api_key, key = api_key_create(name=name)
        except DomainError as exc:
            raise CommandError(exc.detail) from None
        self.stderr.write(
            f"Created API key {api_key.name}. Its key follows, shown only this once (only a "
            "hash is stored): send it as `Authorization: Bearer <key>`."
        )
        self.stdout.write(key)
