"""The cloud-init that installs Mailcow: valid YAML and cloud-config, Mailcow's own install steps, limits."""

from __future__ import annotations

import base64
import shutil
import subprocess
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from email_infrastructure.core.errors import UserError
from email_infrastructure.vps.cloud_init import MAIL_PORTS, REDACTED, MailcowInstall, check_size, render
from tests.conftest import service_missing

KEY = "k3y-" + "a1" * 20
INSTALL = MailcowInstall("mail.fleet.test", "Europe/Berlin", KEY, ["127.0.0.1/32", "::1/128"])


def _doc(text: str) -> dict[str, object]:
    assert text.startswith("#cloud-config\n")
    data = YAML(typ="safe").load(text)
    assert isinstance(data, dict)
    return data


def _script(doc: dict[str, object], path: str) -> str:
    files = doc["write_files"]
    assert isinstance(files, list)
    return next(str(f["content"]) for f in files if f["path"] == path)


def test_the_install_follows_mailcows_unattended_steps() -> None:
    doc = _doc(render(INSTALL))
    assert doc["fqdn"] == "mail.fleet.test" and doc["timezone"] == "Europe/Berlin"
    assert {"git", "curl", "jq", "nftables"} <= set(doc["packages"])  # type: ignore[arg-type]  # YAML list
    script = _script(doc, "/usr/local/sbin/email-infra-install-mailcow")
    # every prompt of generate_config.sh answered by the environment (mailcow-api.md §13)
    assert "MAILCOW_HOSTNAME='mail.fleet.test'" in script and "MAILCOW_TZ='Europe/Berlin'" in script
    assert "FORCE=y" in script and "./generate_config.sh" in script
    # the key goes into mailcow.conf before the first `up`, with the addresses allowed to use it
    assert script.index(f"API_KEY={KEY}") < script.index("docker compose up -d")
    assert "API_ALLOW_FROM=127.0.0.1/32,::1/128" in script
    assert script.index("generate_config.sh") > script.index("get.docker.com")
    assert "/var/lib/email-infra/ready" in script and "/var/lib/email-infra/port25" in script
    runcmd = doc["runcmd"]
    assert runcmd == [["nft", "-f", "/etc/email-infra/firewall.nft"], ["/usr/local/sbin/email-infra-install-mailcow"]]


def test_the_firewall_opens_every_mail_port() -> None:
    rules = _script(_doc(render(INSTALL)), "/etc/email-infra/firewall.nft")
    for port in (25, 465, 587, 993, 143, 443, 80, 4190, 22):
        assert port in MAIL_PORTS
        assert f" {port}," in rules or f" {port} " in rules
    assert "policy drop" in rules and "ct state established,related accept" in rules


def test_review_copy_hides_the_key() -> None:
    text = render(INSTALL, show_secrets=False)
    assert KEY not in text and REDACTED in text


def test_without_allowed_addresses_no_key_is_written() -> None:
    # Mailcow writes no key row without a valid API_ALLOW_FROM: writing the key alone would be a lie
    text = render(MailcowInstall("mail.fleet.test", api_key=KEY))
    assert "API_KEY" not in text


@pytest.mark.parametrize("key", ["short", "has space in it and more", "quote'injection-aaaaaaaaaaaaaaa"])
def test_a_key_mailcow_would_drop_is_refused(key: str) -> None:
    with pytest.raises(UserError, match="a-z A-Z 0-9"):
        render(MailcowInstall("mail.fleet.test", api_key=key, api_allow_from=["127.0.0.1"]))


def test_size_is_checked_after_the_providers_encoding() -> None:
    text = render(INSTALL)
    size = len(text.encode())
    assert check_size(text, 32 * 1024) == size < 32 * 1024
    assert check_size(text, 32 * 1024, base64_encoded=True) == len(base64.b64encode(text.encode()))
    with pytest.raises(UserError, match="over the provider's limit"):
        check_size(text, size - 1)
    with pytest.raises(UserError, match="over the provider's limit"):
        check_size(text, size, base64_encoded=True)


def test_cloud_init_schema_accepts_it(tmp_path: Path) -> None:
    if shutil.which("cloud-init") is None:
        service_missing("Debian's cloud-init package is not installed (scripts/install-os-deps)")
    path = tmp_path / "user-data"
    path.write_text(render(INSTALL))
    done = subprocess.run(
        ["cloud-init", "schema", "--config-file", str(path)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Valid" in done.stdout + done.stderr
