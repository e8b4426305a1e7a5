"""Shared physical things, separate ownership: two workspaces on one zone-file directory, one
PowerDNS (real) and one Mailcow (the fake). A domain moves from beta to acme: acme's purge keeps
what beta made in the zone, beta's clean-up of the zone and of the mail domain it left keeps what
acme runs there now, and neither workspace's plan shows the other's work as drift. SQLite and
PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from email_infrastructure.core.settings import Settings
from email_infrastructure.services import plans, workspaces
from email_infrastructure.services.app import App
from email_infrastructure.services.desired import import_inventory
from email_infrastructure.services.scope import acting_in
from tests.dns.test_powerdns import query
from tests.fakes.mailcow import FakeMailcow
from tests.fixtures.pdns import PowerDns
from tests.services.conftest import WriteInventory

#: reads the values of one RRset, wherever the DNS provider keeps it
Lookup = Callable[[str, str], Awaitable[list[str]]]


def zonefile_lines(settings: Settings) -> Lookup:
    """An RRset's values in the shared zone-file directory (data_dir/zones), read as DNS would."""
    import dns.rdatatype
    import dns.zone

    async def lookup(name: str, rtype: str) -> list[str]:
        zone = ".".join(name.split(".")[-2:])  # every zone here is <label>.test
        path = settings.data_dir / "zones" / f"{zone}.zone"
        if not path.exists():
            return []
        rdataset = dns.zone.from_file(str(path), zone, relativize=False).get_rdataset(
            f"{name}.", dns.rdatatype.from_text(rtype)
        )
        if rdataset is None:
            return []
        return [b"".join(r.strings).decode() if rtype == "TXT" else r.to_text() for r in rdataset]

    return lookup


@pytest.fixture(params=["zonefile", "powerdns"])
def dns(
    request: pytest.FixtureRequest, settings: Settings, app: App, monkeypatch: pytest.MonkeyPatch
) -> tuple[str, Lookup]:
    """The DNS provider both workspaces declare (each under a name of its own), and how to read it."""
    if request.param == "zonefile":
        return "{type: zonefile, directory: zones, nameservers: [ns1.shared.test.]}", zonefile_lines(app.settings)
    pdns: PowerDns = request.getfixturevalue("pdns")
    monkeypatch.setenv("PDNS_TEST_KEY", pdns.api_key)

    async def lookup(name: str, rtype: str) -> list[str]:
        return await query(pdns, name, rtype)

    return (
        f'{{type: powerdns, api_url: "{pdns.api_url}", api_key: env:PDNS_TEST_KEY, nameservers: [ns1.localhost.]}}',
        lookup,
    )


def dns_inventory(provider: str, dns: str, server: str, domains: list[str], extra: str = "") -> str:
    listed = "".join(f"  - {d}\n" for d in domains)
    return f"""version: 1
providers:
  dns:
    {provider}: {dns}
servers:
  - {{name: {server}, hostname: mail.{domains[0].split()[-1].rstrip("}")}, ipv4: 127.0.0.{len(server) + 20}}}
defaults: {{dns_provider: {provider}, server: {server}, dmarc: {{policy: none}}, mailboxes_per_domain: 0}}
domains:
{listed}{extra}"""


async def apply_in(app: App, workspace: str, write: WriteInventory, text: str, **options: Any) -> plans.ApplyResult:
    with acting_in(workspace):
        result = await plans.apply(app, source=write(text, name=f"{workspace}.yaml"), **options)
    assert not result.failed, [o.error for o in result.failed]
    return result


async def test_a_purge_and_a_zone_clean_up_keep_what_the_other_workspace_made(
    app: App, write_inventory: WriteInventory, dns: tuple[str, Lookup]
) -> None:
    provider, lookup = dns
    tag = uuid.uuid4().hex[:8]
    moved, b_own, a_own = f"x{tag}.test", f"b{tag}.test", f"a{tag}.test"
    for name in ("acme", "beta"):
        await workspaces.create(app, name)

    # beta makes the zone, with a DKIM selector of its own
    beta_both = dns_inventory(
        "beta-dns", provider, "mxb", [f"name: {b_own}", f"{{name: {moved}, dkim_selector: beta}}"]
    )
    await apply_in(app, "beta", write_inventory, beta_both)
    assert await lookup(f"beta._domainkey.{moved}", "TXT")
    # beta lets the domain go (its desired state only: nothing applied yet) and acme takes it, purged
    with acting_in("beta"):
        await import_inventory(
            app, write_inventory(dns_inventory("beta-dns", provider, "mxb", [f"name: {b_own}"]), name="beta.yaml")
        )
    acme = dns_inventory("acme-dns", provider, "mxacme", [f"name: {a_own}", f"{{name: {moved}, purge: true}}"])
    with acting_in("acme"):
        planned = await plans.plan(app, source=write_inventory(acme, name="acme.yaml"))
    zone_step = next(s for s in planned.graph.steps if s.key == f"dns.zone:{moved}")
    assert not [c for c in zone_step.changes if c.action == "delete" and "beta._domainkey" in c.resource]
    assert any("another workspace manages" in n for n in zone_step.detail.notes), zone_step.detail.notes
    await apply_in(app, "acme", write_inventory, acme)
    assert await lookup(f"beta._domainkey.{moved}", "TXT")  # the purge kept beta's record
    assert await lookup(f"dkim._domainkey.{moved}", "TXT")
    acme_mx = await lookup(moved, "MX")
    assert acme_mx and all(f"mail.{a_own}" in v for v in acme_mx)

    # beta applies its smaller state: the zone it made is acme's domain now, nothing in it goes
    with acting_in("beta"):
        cleanup = await plans.plan(app)
    orphan = next(s for s in cleanup.graph.steps if s.key == f"dns.zone:{moved}")
    assert orphan.changes == [] and any("another workspace's domain" in n for n in orphan.detail.notes)
    await apply_in(app, "beta", write_inventory, dns_inventory("beta-dns", provider, "mxb", [f"name: {b_own}"]))
    assert await lookup(moved, "MX") == acme_mx and await lookup(f"dkim._domainkey.{moved}", "TXT")
    assert await lookup(b_own, "MX") and await lookup(a_own, "MX")  # each workspace's own zone untouched
    with acting_in("acme"):  # and acme sees no drift in any of its zones
        assert not (await plans.plan(app)).has_changes


def mail_inventory(url: str, backend: str, server: str, domains: list[str]) -> str:
    listed = "".join(f"  - name: {d}\n" for d in domains)
    return f"""version: 1
providers:
  dns:
    files: {{type: zonefile, directory: zones, nameservers: [ns1.shared.test.]}}
  mail:
    {backend}: {{type: mailcow, url: "{url}", api_key: env:MAILCOW_TEST_KEY, mailbox_quota_mib: 1024, timeout: 2}}
servers:
  - {{name: {server}, hostname: mail.{domains[0]}, ipv4: 127.0.0.10, mail_backend: {backend}}}
defaults: {{dns_provider: files, server: {server}, dmarc: {{policy: none}}, mailboxes_per_domain: 1}}
domains:
{listed}"""


async def test_a_prune_never_removes_a_mail_domain_another_workspace_runs_on_the_same_server(
    app: App, write_inventory: WriteInventory, mailcow: tuple[FakeMailcow, str]
) -> None:
    fake, url = mailcow
    moved, b_own, a_own = "moved.mail.test", "b.mail.test", "a.mail.test"
    for name in ("acme", "beta"):
        await workspaces.create(app, name)
    await apply_in(app, "beta", write_inventory, mail_inventory(url, "mc", "mxb", [b_own, moved]))
    assert moved in fake.domains
    with acting_in("beta"):
        await import_inventory(app, write_inventory(mail_inventory(url, "mc", "mxb", [b_own]), name="beta.yaml"))
    # acme declares the same Mailcow under a name of its own and takes the domain over
    await apply_in(app, "acme", write_inventory, mail_inventory(url, "cow", "mxa", [a_own, moved]))
    acme_boxes = {u for u in fake.mailboxes if u.endswith(f"@{moved}")}
    assert acme_boxes

    with acting_in("beta"):
        pruned = await plans.plan(app, prune=True)
    removal = next(s for s in pruned.graph.steps if s.key == f"mail.domain:{moved}")
    assert removal.changes == [] and any("another workspace's now" in n for n in removal.notes), removal.notes
    assert not [s.key for s in pruned.graph.steps if s.key.endswith(moved) and s.key.startswith("mail.mailboxes")]
    await apply_in(app, "beta", write_inventory, mail_inventory(url, "mc", "mxb", [b_own]), prune=True)
    assert moved in fake.domains and moved in fake.dkim and b_own in fake.domains
    assert acme_boxes <= set(fake.mailboxes)
    # acme's prune, in turn, keeps beta's domain and what beta created in the moved one
    await apply_in(app, "acme", write_inventory, mail_inventory(url, "cow", "mxa", [a_own, moved]), prune=True)
    assert b_own in fake.domains and a_own in fake.domains and moved in fake.domains
    with acting_in("acme"):
        assert not (await plans.plan(app)).has_changes
