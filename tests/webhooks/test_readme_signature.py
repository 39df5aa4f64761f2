"""The signature check the README gives receivers accepts our deliveries and refuses
forgeries, tampered bodies and replays."""

import time
from pathlib import Path

import pytest

from webhooks.models import EventType
from webhooks.services import delivery_send, endpoint_create, event_record

pytestmark = pytest.mark.django_db

README = Path(__file__).resolve().parents[2] / "README.md"


def _readme_check():
    section = README.read_text().split("### Verifying the signature", 1)[1]
    code = section.split("```python", 1)[1].split("```", 1)[0]
    namespace: dict = {}
    exec(compile(code, str(README), "exec"), namespace)  # noqa: S102 - our own README
    return namespace["signature_valid"]


def test_the_readme_check_accepts_a_delivery_and_refuses_the_rest(receiver):
    signature_valid = _readme_check()
    endpoint, secret = endpoint_create(url=receiver.url, event_types=[])
    event_record(type=EventType.ORDER_CONFIRMED, data={"order_id": 5})
    delivery_send(delivery_id=endpoint.deliveries.get().pk)
    [request] = receiver.requests
    header, body = request["headers"]["x-stockhold-signature"], request["body"]
    sent_at = int(header.split(",")[0].removeprefix("t="))

    assert signature_valid(secret, header, body)
    assert not signature_valid("whsec_other", header, body)
    assert not signature_valid(secret, header, body.replace(b"5", b"6"))
    assert not signature_valid(secret, header.replace(f"t={sent_at}", f"t={sent_at + 1}"), body)
    assert not signature_valid(secret, header, body, now=time.time() + 301)
    assert not signature_valid(secret, "v1=abc", body)
    assert not signature_valid(secret, "garbage", body)
