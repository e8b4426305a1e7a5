"""RSA keys of DKIM: generation, the public half of a stored key, the size of a published one."""

from __future__ import annotations

import base64
import binascii
import re

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from email_infrastructure.core.errors import UserError


class InvalidKeyError(UserError):
    """A public key that is not base64 of an RSA key."""


def generate_keypair(bits: int = 2048) -> tuple[str, str]:
    """A new RSA key: (private key PEM, public key as base64 SubjectPublicKeyInfo)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    private_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode("ascii")
    return private_pem, public_key_b64(private_pem)


def public_key_b64(private_pem: str) -> str:
    """The base64 SubjectPublicKeyInfo of a PEM private key.

    Keys come from our own vault, whose Fernet HMAC already proves they are the ones we stored,
    so the costly RSA consistency check (tens of milliseconds a key) is skipped.
    """
    key = serialization.load_pem_private_key(
        private_pem.encode("ascii"), password=None, unsafe_skip_rsa_key_validation=True
    )
    der = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(der).decode("ascii")


def rsa_key_bits(public_b64: str) -> int:
    """Size of a base64 RSA public key (SubjectPublicKeyInfo or PKCS#1); InvalidKeyError if invalid."""
    compact = re.sub(r"\s+", "", public_b64)
    try:
        der = base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidKeyError("the DKIM public key is not valid base64") from None
    try:
        key = serialization.load_der_public_key(der)
    except ValueError:
        try:
            key = serialization.load_der_public_key(_pkcs1_to_spki(der))
        except ValueError:
            raise InvalidKeyError("the DKIM public key is not an RSA public key") from None
    if not isinstance(key, rsa.RSAPublicKey):
        raise InvalidKeyError("the DKIM public key is not an RSA public key")
    return key.key_size


def _pkcs1_to_spki(der: bytes) -> bytes:
    # Some signers publish bare PKCS#1 RSAPublicKey; wrap it in the rsaEncryption SPKI header.
    algorithm = bytes.fromhex("300d06092a864886f70d0101010500")
    bitstring = b"\x03" + _der_len(len(der) + 1) + b"\x00" + der
    body = algorithm + bitstring
    return b"\x30" + _der_len(len(body)) + body


def _der_len(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(raw)]) + raw
