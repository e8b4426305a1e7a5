"""Redaction: secrets never reach log output, exception texts or events."""

from __future__ import annotations

import io
import json
import logging

import pytest

from email_infrastructure.core.events import Event
from email_infrastructure.core.logging import (
    REDACTED,
    JsonFormatter,
    RedactingFilter,
    redact,
    redact_text,
    register_secret,
)


@pytest.fixture
def capture() -> tuple[logging.Logger, io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactingFilter())
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("test.redaction")
    logger.handlers = [handler]
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    return logger, stream


def test_registered_secret_is_removed_from_message_args_and_exception(
    capture: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, stream = capture
    register_secret("s3cr3t-value-987")
    try:
        raise RuntimeError("request failed with token s3cr3t-value-987 in url")
    except RuntimeError:
        logger.exception("calling %s with %s", "api", "s3cr3t-value-987")
    out = stream.getvalue()
    assert "s3cr3t-value-987" not in out
    record = json.loads(out)
    assert record["message"] == f"calling api with {REDACTED}"
    assert REDACTED in record["exception"]


@pytest.mark.parametrize(
    ("text", "leak"),
    [
        ("Authorization: Bearer abcdefghijklmnop123", "abcdefghijklmnop123"),
        ("X-API-Key: 0123456789abcdef", "0123456789abcdef"),
        ('{"password": "Tr0ub4dor&3"}', "Tr0ub4dor&3"),
        ("https://h/?api_key=zzzzyyyyxxxx&x=1", "zzzzyyyyxxxx"),
        ("-----BEGIN RSA PRIVATE KEY-----\nMIIEabc\n-----END RSA PRIVATE KEY-----", "MIIEabc"),
    ],
)
def test_secret_shapes_are_removed_without_registration(text: str, leak: str) -> None:
    cleaned = redact_text(text)
    assert leak not in cleaned
    assert REDACTED in cleaned


def test_ordinary_text_is_untouched() -> None:
    text = "created TXT record _dmarc.example.test v=DMARC1; p=none"
    assert redact_text(text) == text


def test_redact_walks_structures_by_field_name() -> None:
    data = {"mailbox": "a@x.test", "password": "pw-123456", "nested": [{"api_key": "k-123456"}]}
    assert redact(data) == {
        "mailbox": "a@x.test",
        "password": REDACTED,
        "nested": [{"api_key": REDACTED}],
    }


def test_events_never_carry_secrets() -> None:
    register_secret("evt-secret-24680")
    event = Event(
        "mailcow.mailbox.created",
        {"address": "a@x.test", "password": "p", "note": "evt-secret-24680"},
    )
    assert event.payload == {"address": "a@x.test", "password": REDACTED, "note": REDACTED}
