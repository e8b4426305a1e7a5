"""Records go to the most specific managed zone, also when a zone and its subzones are all managed."""

from __future__ import annotations

import sys
from collections.abc import Callable
from functools import partial
from types import FrameType

from email_infrastructure.core.inventory.loader import parse_inventory_text
from email_infrastructure.core.rsa_keys import generate_keypair
from email_infrastructure.dns.desired import DesiredZone, desired_zones

KEY = generate_keypair(1024)[1]

NESTED = """\
version: 1
providers: {dns: {z: {type: zonefile}}}
servers:
  - {name: mx1, hostname: mail.sub.alpha.test, ipv4: 127.0.0.10}
  - {name: mx2, hostname: mx.alpha.test, ipv4: 127.0.0.11, ipv6: "::1"}
  - {name: ext, hostname: mail.elsewhere.test, ipv4: 127.0.0.12}
defaults:
  dns_provider: z
  server: mx1
  dmarc: {policy: none, rua: ["mailto:r@sub.alpha.test", "mailto:r@alpha.test", "mailto:x@notalpha.test"]}
domains:
  - {name: alpha.test, server: mx2}
  - {name: deep.sub.alpha.test, server: ext, redirect: "https://example.org"}
  - name: sub.alpha.test
  - name: notalpha.test
"""


def zones(text: str) -> dict[str, DesiredZone]:
    inv = parse_inventory_text(text, "i.yaml").inventory
    return desired_zones(inv, {d.name: KEY for d in inv.domains})


def longest_suffix(name: str, managed: list[str]) -> str | None:
    """The definition, by brute force: the longest managed zone that `name` equals or lies below."""
    inside = [z for z in managed if name == z or name.endswith("." + z)]
    return max(inside, key=len, default=None)


def test_every_record_is_in_its_most_specific_managed_zone() -> None:
    result = zones(NESTED)
    assert all(zone.error is None for zone in result.values())
    for zone in result.values():
        assert zone.records
        for record in zone.records:
            assert longest_suffix(record.name, list(result)) == zone.zone, record


def test_nested_zones_get_exactly_their_records() -> None:
    result = zones(NESTED)
    names = {zone: sorted({r.name for r in z.records}) for zone, z in result.items()}
    assert names == {
        "alpha.test": [
            "_autodiscover._tcp.alpha.test",
            "_dmarc.alpha.test",
            "alpha.test",
            "autoconfig.alpha.test",
            "autodiscover.alpha.test",
            "deep.sub.alpha.test._report._dmarc.alpha.test",
            "dkim._domainkey.alpha.test",
            "mx.alpha.test",
            "notalpha.test._report._dmarc.alpha.test",
            "sub.alpha.test._report._dmarc.alpha.test",
        ],
        "deep.sub.alpha.test": [
            "_autodiscover._tcp.deep.sub.alpha.test",
            "_dmarc.deep.sub.alpha.test",
            "autoconfig.deep.sub.alpha.test",
            "autodiscover.deep.sub.alpha.test",
            "deep.sub.alpha.test",
            "dkim._domainkey.deep.sub.alpha.test",
            "www.deep.sub.alpha.test",
        ],
        "notalpha.test": [
            "_autodiscover._tcp.notalpha.test",
            "_dmarc.notalpha.test",
            "alpha.test._report._dmarc.notalpha.test",
            "autoconfig.notalpha.test",
            "autodiscover.notalpha.test",
            "deep.sub.alpha.test._report._dmarc.notalpha.test",
            "dkim._domainkey.notalpha.test",
            "notalpha.test",
            "sub.alpha.test._report._dmarc.notalpha.test",
        ],
        "sub.alpha.test": [
            "_autodiscover._tcp.sub.alpha.test",
            "_dmarc.sub.alpha.test",
            "alpha.test._report._dmarc.sub.alpha.test",
            "autoconfig.sub.alpha.test",
            "autodiscover.sub.alpha.test",
            "deep.sub.alpha.test._report._dmarc.sub.alpha.test",
            "dkim._domainkey.sub.alpha.test",
            "mail.sub.alpha.test",
            "notalpha.test._report._dmarc.sub.alpha.test",
            "sub.alpha.test",
        ],
    }
    # a host in no managed zone gets no address record anywhere
    assert not any(r.name == "mail.elsewhere.test" for z in result.values() for r in z.records)


def test_the_result_does_not_depend_on_the_order_of_the_domains() -> None:
    head, body = NESTED.split("domains:\n")
    lines = body.splitlines(keepends=True)
    reordered = head + "domains:\n" + "".join(reversed(lines))
    assert zones(reordered) == zones(NESTED)


def fleet(domains: int) -> str:
    """`domains` sending domains, each also the host of its own mail server."""
    servers = "".join(f"  - {{name: mx{i}, hostname: mail.d{i}.test, ipv4: 127.0.0.10}}\n" for i in range(domains))
    names = "".join(f"  - {{name: d{i}.test, server: mx{i}}}\n" for i in range(domains))
    return (
        "version: 1\nproviders: {dns: {z: {type: zonefile}}}\n"
        f"servers:\n{servers}defaults:\n  dns_provider: z\n"
        '  dmarc: {policy: none, rua: ["mailto:r@d0.test"]}\n'
        f"domains:\n{names}"
    )


def executed_lines(call: Callable[[], object]) -> int:
    """Python lines executed by `call`: a deterministic measure of work (tests never time things)."""
    count = 0

    def trace(frame: FrameType, event: str, arg: object) -> Callable[..., object]:
        nonlocal count
        count += event == "line"
        return trace

    # Put back whatever tracer was there (coverage's): clearing it stops coverage for the rest of the run.
    previous = sys.gettrace()
    sys.settrace(trace)
    try:
        call()
    finally:
        sys.settrace(previous)
    return count


def test_placing_records_takes_work_linear_in_the_domains() -> None:
    work = []
    for size in (40, 80):
        inv = parse_inventory_text(fleet(size), "i.yaml").inventory
        work.append(executed_lines(partial(desired_zones, inv, {})))
    # Twice the domains: ~2x the work when each record finds its zone by lookups, ~4x when it
    # scans every zone (the old zone_for).
    assert work[1] < 2.5 * work[0], work
