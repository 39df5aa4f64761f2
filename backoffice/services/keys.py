"""API keys: create one (its key shown once), revoke it, note when it was last used."""

import re
from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from backoffice.keys import key_new
from backoffice.models import ApiKey
from core.errors import InvalidInput
from reservations.tokens import token_hash

# A name goes into the ledger as `api-key:<name>` and on the command line.
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
# `last_used_at` is a figure for staff: writing it on every request would cost a write per
# request, so it moves at most this often.
TOUCH_INTERVAL = timedelta(minutes=1)
# Draws of a prefix (32 random bits) before giving up; a second one is already unlikely.
_PREFIX_DRAWS = 5


def api_key_name_check(*, name: object) -> str:
    """Return `name` if an API key may have it; else InvalidInput."""
    if not isinstance(name, str) or not _NAME_RE.fullmatch(name):
        raise InvalidInput(
            "An API key's name is 1 to 100 letters, digits, '.', '_' or '-', starting with a "
            "letter or digit.",
            field="name",
        )
    return name


def _name_taken(name: str) -> InvalidInput:
    return InvalidInput(
        f"There is already an API key named {name} (revoked keys keep their names).",
        field="name",
    )


def api_key_create(*, name: str) -> tuple[ApiKey, str]:
    """Create an API key named `name`; return it and its key, which is never shown again.

    Only the hash of the key's secret is stored. A name is never reused, even after the
    key was revoked, so the ledger's `api-key:<name>` always means one key.
    """
    name = api_key_name_check(name=name)
    for _ in range(_PREFIX_DRAWS):
        if ApiKey.objects.filter(name=name).exists():
            raise _name_taken(name)
        key, prefix, secret = key_new()
        try:
            with transaction.atomic():
                api_key = ApiKey.objects.create(
                    name=name, prefix=prefix, secret_hash=token_hash(secret)
                )
        except IntegrityError:
            continue  # the name was taken since the check, or the prefix is in use
        return api_key, key
    raise RuntimeError(f"No free key prefix in {_PREFIX_DRAWS} draws of 32 random bits.")


def api_key_revoke(*, api_key: ApiKey, now: datetime | None = None) -> bool:
    """Revoke `api_key` from now on; return whether this call did (False: it was already)."""
    now = now or timezone.now()
    revoked = ApiKey.objects.filter(pk=api_key.pk, revoked_at__isnull=True).update(
        revoked_at=now
    )
    if revoked:
        api_key.revoked_at = now
    return bool(revoked)


def api_key_touch(*, api_key: ApiKey, now: datetime | None = None) -> bool:
    """Record that `api_key` was used, at most once per TOUCH_INTERVAL; return whether it
    wrote. Of concurrent requests only one writes: the update is conditional."""
    now = now or timezone.now()
    stale = now - TOUCH_INTERVAL
    if api_key.last_used_at is not None and api_key.last_used_at > stale:
        return False
    touched = (
        ApiKey.objects.filter(pk=api_key.pk)
        .filter(Q(last_used_at__isnull=True) | Q(last_used_at__lte=stale))
        .update(last_used_at=now)
    )
    if touched:
        api_key.last_used_at = now
    return bool(touched)
