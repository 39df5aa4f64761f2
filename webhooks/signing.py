"""The signature of a delivery: what receivers check to know it came from us, unchanged."""

import hashlib
import hmac

SIGNATURE_VERSION = "v1"


def signature_header(*, secret: str, body: bytes, timestamp: int) -> str:
    """Return `t=<timestamp>,v1=<hex HMAC-SHA256 of "<timestamp>.<body>">` keyed by `secret`.

    The timestamp is signed with the body, so a receiver that rejects old timestamps
    cannot be fed a recorded delivery again later.
    """
    signed = f"{timestamp}.".encode() + body
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={timestamp},{SIGNATURE_VERSION}={digest}"
