"""Where each generated secret is kept in the vault: one (owner, name) scheme for every component.

Steps write these secrets and services read them; both name them here, so a renamed secret
cannot be written under one name and looked for under another.
"""

from __future__ import annotations

#: the vault name of the Mailcow API key we generate for a mail provider (owner: `api_key_owner`)
API_KEY_NAME = "api_key"
#: a generated Mailcow API key's length in bytes (hex: within Mailcow's allowed a-z A-Z 0-9 -)
API_KEY_BYTES = 24
#: stands in for a key generated at apply: same length, so the size checked is the size sent
PLACEHOLDER_KEY = "0" * 2 * API_KEY_BYTES
#: the HMAC key API keys are hashed with
API_SERVER_KEY = ("api", "key-hmac")
#: the key the dashboard's session cookies are signed with
DASHBOARD_SESSION_KEY = ("dashboard", "session-key")


def dkim_key(domain: str, selector: str) -> tuple[str, str]:
    """A domain's DKIM private key (generated locally)."""
    return (f"domain:{domain}", f"dkim:{selector}")


def password_key(address: str) -> tuple[str, str]:
    """A confirmed mailbox password."""
    local, domain = address.split("@", 1)
    return (f"domain:{domain}", f"mailbox-password:{local}")


def pending_key(address: str) -> tuple[str, str]:
    """A password between its generation and the mailbox reading back."""
    local, domain = address.split("@", 1)
    return (f"domain:{domain}", f"mailbox-password-pending:{local}")


def api_key_owner(mail_backend: str) -> str:
    """The vault owner of a mail provider's generated Mailcow API key."""
    return f"mail:{mail_backend}"
