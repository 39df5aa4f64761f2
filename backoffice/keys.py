"""The form of an API key: `sh_<prefix>_<secret>`.

The prefix (8 hex digits) is public and finds the key's row; the secret is 256 random bits
(`secrets.token_urlsafe(32)`, 43 characters), of which only the SHA-256 is stored, as for
cart tokens.
"""

import re
import secrets

from reservations.tokens import token_new

_KEY_RE = re.compile(r"^sh_([0-9a-f]{8})_([A-Za-z0-9_-]{43})$")


def key_new() -> tuple[str, str, str]:
    """Return a new key, its prefix and its secret."""
    prefix = secrets.token_hex(4)
    secret = token_new()
    return f"sh_{prefix}_{secret}", prefix, secret


def key_parse(key: str) -> tuple[str, str] | None:
    """Return the prefix and the secret of a key of the right form; else None."""
    match = _KEY_RE.fullmatch(key)
    return (match[1], match[2]) if match else None
