"""Cart tokens: 256 random bits handed to the shopper, only their hash kept."""

import hashlib
import hmac
import secrets


def token_new() -> str:
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    # The token is 256 random bits, so a plain SHA-256 (no salt, no stretching) cannot
    # be brute-forced and keeps the lookup by cart id cheap.
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def token_matches(*, token: str, hashed: str) -> bool:
    return hmac.compare_digest(token_hash(token), hashed)
