"""Cloud-init user data that turns a fresh Debian/Ubuntu server into a Mailcow host, unattended.

It follows Mailcow's own install steps (reference mailcow-api.md §13): Docker from upstream,
`generate_config.sh` with every prompt answered by environment variables, the API key appended
to `mailcow.conf` before the first start; then it opens the mail ports in an nftables input chain
(Docker's published ports go through FORWARD, which it leaves alone), probes outbound port 25,
and signals readiness with `/var/lib/email-infra/ready` and cloud-init's final message.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence
from dataclasses import dataclass

from ruamel.yaml import YAML
from ruamel.yaml.scalarstring import LiteralScalarString

from email_infrastructure.core.errors import UserError

#: inbound ports Mailcow serves (mailcow-api.md §13), plus SSH
MAIL_PORTS = (22, 25, 80, 110, 143, 443, 465, 587, 993, 995, 4190)
#: a well-known MX the port 25 probe connects to from the new server
PORT25_PROBE_HOST = "gmail-smtp-in.l.google.com"
READY_FILE = "/var/lib/email-infra/ready"
PORT25_FILE = "/var/lib/email-infra/port25"
REDACTED = "<redacted: shown with --show-secrets>"
#: Mailcow's minimum (mailcow-api.md §13)
MAILCOW_MIN_MEMORY_MIB = 6 * 1024
_API_KEY_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-")


@dataclass(frozen=True)
class MailcowInstall:
    """What the install needs to know about the server."""

    hostname: str
    timezone: str = "UTC"
    #: Mailcow's read-write API key (None: no API access is provisioned)
    api_key: str | None = None
    #: addresses allowed to use that key (Mailcow writes no key row without one)
    api_allow_from: Sequence[str] = ()
    ssh_keys: Sequence[str] = ()


def _install_script(spec: MailcowInstall, api_key: str | None) -> str:
    api = ""
    if api_key is not None and spec.api_allow_from:
        api = f"cat >> mailcow.conf <<'CONF'\nAPI_KEY={api_key}\nAPI_ALLOW_FROM={','.join(spec.api_allow_from)}\nCONF\n"
    return f"""#!/bin/bash
# Written by email-infra: installs Mailcow for {spec.hostname} (mailcow docs, getstarted/install).
set -euo pipefail
umask 0022
mkdir -p /var/lib/email-infra
if ! swapon --show | grep -q .; then
  fallocate -l 1G /swapfile && chmod 600 /swapfile && mkswap /swapfile && swapon /swapfile
  echo '/swapfile none swap sw 0 0' >> /etc/fstab
fi
if ! command -v docker >/dev/null 2>&1; then
  curl -fsSL https://get.docker.com | sh
fi
systemctl enable --now docker
if [ ! -d /opt/mailcow-dockerized ]; then
  git clone https://github.com/mailcow/mailcow-dockerized /opt/mailcow-dockerized
fi
cd /opt/mailcow-dockerized
if [ ! -f mailcow.conf ]; then
  MAILCOW_HOSTNAME='{spec.hostname}' MAILCOW_TZ='{spec.timezone}' MAILCOW_BRANCH=master \\
    SKIP_CLAMD=n FORCE=y ./generate_config.sh
{api}fi
docker compose pull
docker compose up -d
if timeout 10 bash -c 'exec 3<>/dev/tcp/{PORT25_PROBE_HOST}/25'; then
  echo open > {PORT25_FILE}
else
  echo blocked > {PORT25_FILE}
fi
date -u +%Y-%m-%dT%H:%M:%SZ > {READY_FILE}
"""


def _firewall() -> str:
    ports = ", ".join(str(p) for p in MAIL_PORTS)
    return f"""#!/usr/sbin/nft -f
# Written by email-infra: the host's own input; Docker's published ports pass through FORWARD.
table inet email_infra {{
  chain input {{
    type filter hook input priority filter; policy drop;
    ct state established,related accept
    iifname "lo" accept
    meta l4proto {{ icmp, ipv6-icmp }} accept
    tcp dport {{ {ports} }} accept
  }}
}}
"""


def render(spec: MailcowInstall, *, show_secrets: bool = True) -> str:
    """The `#cloud-config` document; `show_secrets=False` replaces the API key for review."""
    if spec.api_key is not None and not (set(spec.api_key) <= _API_KEY_CHARS and 16 <= len(spec.api_key) <= 128):
        raise UserError("a Mailcow API key is 16–128 characters from a-z A-Z 0-9 - (Mailcow drops others)")
    api_key = spec.api_key if show_secrets or spec.api_key is None else REDACTED
    doc: dict[str, object] = {
        "hostname": spec.hostname.split(".", 1)[0],
        "fqdn": spec.hostname,
        "prefer_fqdn_over_hostname": True,
        "manage_etc_hosts": True,
        "timezone": spec.timezone,
        "package_update": True,
        "packages": ["git", "openssl", "curl", "gawk", "coreutils", "grep", "jq", "nftables", "ca-certificates"],
        "write_files": [
            {
                "path": "/etc/email-infra/firewall.nft",
                "permissions": "0600",
                "content": LiteralScalarString(_firewall()),
            },
            {
                "path": "/usr/local/sbin/email-infra-install-mailcow",
                "permissions": "0700",
                "content": LiteralScalarString(_install_script(spec, api_key)),
            },
        ],
        "runcmd": [
            ["nft", "-f", "/etc/email-infra/firewall.nft"],
            ["/usr/local/sbin/email-infra-install-mailcow"],
        ],
        "final_message": f"email-infra: Mailcow for {spec.hostname} installed after $UPTIME s",
    }
    if spec.ssh_keys:
        doc["ssh_authorized_keys"] = list(spec.ssh_keys)
    out = io.StringIO()
    yaml = YAML()
    yaml.width = 4096
    yaml.dump(doc, out)
    return "#cloud-config\n" + out.getvalue()


def check_size(user_data: str, limit: int, *, base64_encoded: bool = False) -> int:
    """The size the provider sees (after base64 where it wants it); raise if over `limit`."""
    raw = user_data.encode()
    size = len(base64.b64encode(raw)) if base64_encoded else len(raw)
    if size > limit:
        raise UserError(f"cloud-init user data is {size} bytes, over the provider's limit of {limit}")
    return size
