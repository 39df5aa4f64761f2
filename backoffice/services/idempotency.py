"""Back-office writes sent with an `Idempotency-Key`: worked on once, answered the same.

A key belongs to the API key that sent it. Its row (`IdempotentRequest`) is inserted
before any work; the request that works on it holds a PostgreSQL advisory lock on that row
for as long as it works. The work commits in many transactions, so the lock is held by a
transaction of its own, open on a second connection until the work is done: a lock held
by the session instead would stay behind on whichever server connection a pooler in
transaction mode gave the lock's statement, and the unlock could reach another one. So of
two requests with one key at once, one works and the other is told so at once
(IdempotencyKeyInProgress), never waiting behind it; a request that died half-way has lost
its lock with its connection, and the next repeat resumes the work.
"""

import hashlib
import json
from collections.abc import Iterator
from contextlib import contextmanager

from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections
from django.db.models.functions import Now

from backoffice.errors import IdempotencyKeyInProgress
from backoffice.models import ApiKey, IdempotentRequest
from reservations.errors import IdempotencyKeyReused

# The advisory lock's first key: the project's locks on idempotent requests (the second
# key is the row's id). The two-key locks never meet the one-key ones.
_LOCK_SPACE = 0x53480001


def _lock_key(request: IdempotentRequest) -> tuple[int, int]:
    return _LOCK_SPACE, request.pk % 2**32 - 2**31  # a signed 32-bit integer


@contextmanager
def _lock_held(request: IdempotentRequest) -> Iterator[bool]:
    """Try the request's lock; hold it, if had, until the block ends. Yield whether it was.

    The lock belongs to a transaction on a connection of its own, which stays open for the
    block: through a pooler in transaction mode it keeps its server connection that long.
    """
    claim = connections.create_connection(DEFAULT_DB_ALIAS)
    try:
        claim.ensure_connection()
        claim.set_autocommit(False)
        with claim.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_xact_lock(%s, %s)", _lock_key(request))
            had = cursor.fetchone()[0]
        yield had
    finally:
        try:
            claim.rollback()
        except DatabaseError:
            pass  # the connection is gone, and the lock went with it
        claim.close()


def request_fingerprint(*, operation: str, payload: object) -> str:
    """Return what makes two requests under one key "the same": a hash of the operation
    and its validated input (so key order and spacing of the JSON make no difference)."""
    canonical = json.dumps(
        [operation, payload], sort_keys=True, separators=(",", ":"), default=str
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


@contextmanager
def idempotent_request_claim(
    *, api_key: ApiKey, key: str, fingerprint: str
) -> Iterator[IdempotentRequest]:
    """Claim `key` of `api_key` for a request whose input hashes to `fingerprint`.

    Yields the request's row. With an answer stored (`status_code` set) it is a repeat:
    answer with the row's `status_code` and `response`. Otherwise the caller does the work
    and stores its answer with `idempotent_request_complete` inside the block; the claim
    is released when the block ends, however it ends.

    IdempotencyKeyReused when the key was used for a different request;
    IdempotencyKeyInProgress while another request works on it.
    """
    request, _ = IdempotentRequest.objects.get_or_create(
        api_key=api_key, key=key, defaults={"fingerprint": fingerprint}
    )
    if request.fingerprint != fingerprint:
        raise IdempotencyKeyReused(
            "This Idempotency-Key was already used for a different request; use a new key "
            "for each batch."
        )
    if request.status_code is not None:
        yield request
        return
    with _lock_held(request) as had:
        if not had:
            raise IdempotencyKeyInProgress()
        # Answered by the request that held the lock until just now?
        request.refresh_from_db()
        yield request


def idempotent_request_complete(
    *, request: IdempotentRequest, status_code: int, response: object
) -> None:
    """Store the answer of a claimed request; its repeats are given it from now on."""
    IdempotentRequest.objects.filter(pk=request.pk, status_code__isnull=True).update(
        status_code=status_code, response=response, completed_at=Now()
    )
    request.refresh_from_db()
