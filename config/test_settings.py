"""Settings for the test suite: the real settings, with test-only defaults."""

import os

# As long as the production check demands (config/settings.py); it signs nothing real.
os.environ.setdefault(
    "SECRET_KEY", "test-only-secret-key-for-the-suite-never-used-in-production-0123456789"
)
# Every test shopper is 127.0.0.1, and servers the suite starts inherit this environment.
# The limits stay on (each request still counts in Redis) but far above what a test sends;
# tests/test_security.py sets low ones to see them bite.
os.environ.setdefault("THROTTLE_CART_CREATE", "100000/min")
os.environ.setdefault("THROTTLE_CART_WRITE", "100000/min")

from config.settings import *  # noqa: E402,F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
