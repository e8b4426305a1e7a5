"""Zone files cannot be injected: settings are typed at validate, the provider refuses or escapes the rest."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from email_infrastructure.core.errors import InventoryError, ProviderError
from email_infrastructure.core.inventory.loader import parse_inventory_text
from email_infrastructure.dns.config import ZonefileSettings
from email_infrastructure.dns.plan import Action, Change
from email_infrastructure.dns.providers import ProviderContext
from email_infrastructure.dns.providers.zonefile import ZonefileProvider
from email_infrastructure.dns.records import Record
from email_infrastructure.reconcile.registry import provider_schemas
from tests.dns.test_zonefile import checkzone

ZONE = "example.test"
INCLUDE = "ns1.example.test.\n$INCLUDE /etc/passwd\nevil 60 IN A 192.0.2.66"


def inventory(settings: str) -> str:
    return f"""\
version: 1
providers:
  dns:
    local:
      type: zonefile
{settings}
domains:
  - name: {ZONE}
    dns_provider: local
"""


def problems(settings: str) -> list[str]:
    with pytest.raises(InventoryError) as info:
        parse_inventory_text(inventory(settings), "inv.yaml", provider_schemas())
    return info.value.problems


def provider(tmp_path: Path, **settings: object) -> ZonefileProvider:
    """A provider whose settings skipped validation, as if a caller built them by hand."""
    return ZonefileProvider("local", ZonefileSettings.model_construct(**settings), ProviderContext(tmp_path / "data"))


def checked(tmp_path: Path, **settings: object) -> ZonefileProvider:
    """A provider with validated settings."""
    model = ZonefileSettings.model_validate(settings)
    return ZonefileProvider("local", model, ProviderContext(tmp_path / "data"))


def test_a_nameserver_with_newlines_is_refused_at_validate() -> None:
    found = problems(f"      nameservers: [ns2.example.test, {json.dumps(INCLUDE)}]")
    assert len(found) == 1
    assert found[0].startswith("inv.yaml:6:39: providers.dns.local.nameservers.1: invalid domain name")
    assert "\n" not in found[0]


@pytest.mark.parametrize(
    "value",
    [
        "ns1 .example.test",
        "ns1..example.test",
        "ns1.example.test;comment",
        "ns1.example.test (",
        "localhost",  # one label is not a name server's host name
        "-ns.example.test",
        "",
    ],
)
def test_nameservers_are_host_names(value: str) -> None:
    found = problems(f"      nameservers: [{json.dumps(value)}]")
    assert [p.split(": ")[1] for p in found] == ["providers.dns.local.nameservers.0"]


def test_at_least_one_nameserver() -> None:
    found = problems("      nameservers: []")
    assert [p.split(": ")[1] for p in found] == ["providers.dns.local.nameservers"]


@pytest.mark.parametrize(
    "value",
    [
        "hostmaster\n$INCLUDE /etc/passwd",
        "host master",
        "hostmaster..example.test",
        "a@b@example.test",
        "@example.test",
    ],
)
def test_the_hostmaster_is_a_label_a_domain_or_an_address(value: str) -> None:
    found = problems(f"      hostmaster: {json.dumps(value)}")
    assert [p.split(": ")[1] for p in found] == ["providers.dns.local.hostmaster"]


@pytest.mark.parametrize("value", ["../../x", "zones/../../x", "..", "zones/\n", ""])
def test_a_relative_directory_must_stay_in_the_data_directory(value: str) -> None:
    found = problems(f"      directory: {json.dumps(value)}")
    assert [p.split(": ")[1] for p in found] == ["providers.dns.local.directory"]


@pytest.mark.parametrize("value", ["zones", "dns/zones", "./zones", "zones/../other", "/var/lib/zones"])
def test_directories_inside_the_data_directory_or_absolute_are_accepted(value: str) -> None:
    parse_inventory_text(inventory(f"      directory: {json.dumps(value)}"), "inv.yaml", provider_schemas())


def test_settings_are_normalised() -> None:
    settings = ZonefileSettings.model_validate(
        {"nameservers": ["NS1.Example.TEST.", "bücher.example.test"], "hostmaster": "Dns.Admin@Example.TEST"}
    )
    assert settings.nameservers == ["ns1.example.test", "xn--bcher-kva.example.test"]
    assert settings.hostmaster == "dns.admin@example.test"


def test_the_provider_refuses_an_unchecked_nameserver_and_writes_nothing(tmp_path: Path) -> None:
    zonefile = provider(tmp_path, directory="zones", nameservers=[INCLUDE], hostmaster="hostmaster")
    with pytest.raises(ProviderError, match="name server"):
        zonefile.write(ZONE, [Record.make(ZONE, "TXT", ["v=spf1 -all"])])
    assert not zonefile.path(ZONE).exists()


def test_the_provider_refuses_an_unchecked_hostmaster(tmp_path: Path) -> None:
    zonefile = provider(tmp_path, directory="zones", nameservers=["ns1.example.test"], hostmaster="x\n$INCLUDE /x")
    with pytest.raises(ProviderError, match="hostmaster"):
        zonefile.write(ZONE, [])
    assert not zonefile.path(ZONE).exists()


def test_the_provider_refuses_a_directory_outside_the_data_directory(tmp_path: Path) -> None:
    zonefile = provider(tmp_path, directory="../../x", nameservers=["ns1.example.test"], hostmaster="hostmaster")
    with pytest.raises(ProviderError, match="data directory"):
        zonefile.write(ZONE, [])
    assert not (tmp_path.parent / "x").exists()


@pytest.mark.parametrize(
    "name",
    [f"evil\n$INCLUDE /etc/passwd\nx.{ZONE}", f"a b.{ZONE}", f"a;b.{ZONE}", f"a(.{ZONE}", "other.test", f"x{ZONE}"],
)
async def test_record_names_that_are_not_names_in_the_zone_are_refused(tmp_path: Path, name: str) -> None:
    zonefile = provider(tmp_path, directory="zones", nameservers=["ns1.example.test"], hostmaster="hostmaster")
    await zonefile.apply_changes(ZONE, [Change(Action.CREATE, new=Record.make(f"ok.{ZONE}", "A", ["192.0.2.1"]))])
    before = zonefile.path(ZONE).read_text()
    bad = Record(name=name, type="A", values=("192.0.2.2",))  # built directly: Record.make does not check names
    with pytest.raises(ProviderError, match="not a name"):
        await zonefile.apply_changes(ZONE, [Change(Action.CREATE, new=bad)])
    assert zonefile.path(ZONE).read_text() == before


@pytest.mark.parametrize(
    ("rtype", "value"),
    [("A", "192.0.2.1\n$INCLUDE /etc/passwd"), ("MX", "10 mx.example.test. (\n"), ("CNAME", "a.test.;x")],
)
def test_values_that_bypassed_normalisation_are_refused(tmp_path: Path, rtype: str, value: str) -> None:
    zonefile = provider(tmp_path, directory="zones", nameservers=["ns1.example.test"], hostmaster="hostmaster")
    with pytest.raises(ProviderError, match="value"):
        zonefile.write(ZONE, [Record(name=f"x.{ZONE}", type=rtype, values=(value,))])
    assert not zonefile.path(ZONE).exists()


async def test_txt_values_are_escaped_and_read_back_unchanged(tmp_path: Path) -> None:
    zonefile = checked(tmp_path, nameservers=["ns1.example.net"])  # out of zone: needs no glue
    nasty = 'line one\n$INCLUDE /etc/passwd\nevil 60 IN A 192.0.2.66 ; "quoted" \\ back\ttab\x00nul\x7f é'
    record = Record.make(f"txt.{ZONE}", "TXT", [nasty])
    await zonefile.apply_changes(ZONE, [Change(Action.CREATE, new=record)])
    text = zonefile.path(ZONE).read_text()
    assert "\n$INCLUDE" not in text
    assert [line for line in text.splitlines() if line.startswith("txt\t")] == [
        'txt\t3600\tIN\tTXT\t"line one\\010$INCLUDE /etc/passwd\\010evil 60 IN A 192.0.2.66 ; \\"quoted\\" '
        '\\\\ back\\009tab\\000nul\\127 é"'
    ]
    assert await zonefile.list_records(ZONE) == [record]
    checkzone(ZONE, zonefile.path(ZONE))


async def test_an_hostmaster_address_becomes_the_soa_mailbox(tmp_path: Path) -> None:
    zonefile = checked(tmp_path, nameservers=["ns1.example.net"], hostmaster="dns.admin@example.net")
    zonefile.write(ZONE, [Record.make(f"a.{ZONE}", "A", ["192.0.2.1"])])
    soa = next(line for line in zonefile.path(ZONE).read_text().splitlines() if "\tSOA\t" in line)
    assert "\tns1.example.net. dns\\.admin.example.net. ( " in soa
    checkzone(ZONE, zonefile.path(ZONE))


def test_a_serial_past_32_bits_is_refused(tmp_path: Path) -> None:
    zonefile = provider(tmp_path, directory="zones", nameservers=["ns1.example.test"], hostmaster="hostmaster")
    zonefile.write(ZONE, [])
    path = zonefile.path(ZONE)
    path.write_text(re.sub(r"\( \d+ ", "( 4294967295 ", path.read_text(), count=1))
    before = path.read_text()
    with pytest.raises(ProviderError, match="serial"):
        zonefile.write(ZONE, [Record.make(f"a.{ZONE}", "A", ["192.0.2.1"])])
    assert path.read_text() == before
