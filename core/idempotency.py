"""The one rule of an `Idempotency-Key` header, for every API that reads one."""

import re

IDEMPOTENCY_KEY_PATTERN = r"^[!-~]{1,255}$"  # 1 to 255 printable ASCII characters
_IDEMPOTENCY_KEY_RE = re.compile(IDEMPOTENCY_KEY_PATTERN)


def idempotency_key_valid(key: str) -> bool:
    """Return whether `key` is 1 to 255 printable ASCII characters (no spaces)."""
    return bool(_IDEMPOTENCY_KEY_RE.fullmatch(key))
