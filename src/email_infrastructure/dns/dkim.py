"""DKIM keys: generation (RSA 2048 by default) and validation of public keys (RFC 6376, RFC 8301)."""

from __future__ import annotations

import re

from email_infrastructure.core.rsa_keys import InvalidKeyError, rsa_key_bits
from email_infrastructure.dns.records import RecordError

MIN_BITS = 1024


def dkim_txt(public_b64: str) -> str:
    """The DKIM key record value; refuses keys that are invalid or shorter than 1024 bits."""
    try:
        bits = rsa_key_bits(public_b64)
    except InvalidKeyError as exc:
        raise RecordError(str(exc)) from None
    if bits < MIN_BITS:
        raise RecordError(f"the DKIM key has {bits} bits; at least {MIN_BITS} are required (RFC 8301)")
    compact = re.sub(r"\s+", "", public_b64)
    return f"v=DKIM1; k=rsa; p={compact}"
