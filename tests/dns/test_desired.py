"""What records a domain needs."""

from __future__ import annotations

from email_infrastructure.core.inventory.loader import parse_inventory_text
from email_infrastructure.core.rsa_keys import generate_keypair
from email_infrastructure.dns.desired import desired_zones, mta_sts_id, mta_sts_policy

INVENTORY = """\
version: 1
providers: {dns: {z: {type: zonefile}}}
servers:
  - {name: mx1, hostname: mail.alpha.test, ipv4: 127.0.0.10, ipv6: "::1"}
defaults:
  dns_provider: z
  server: mx1
  dmarc: {policy: quarantine, rua: ["mailto:reports@alpha.test"], adkim: s}
domains:
  - name: alpha.test
  - name: beta.test
    spf_includes: [spf.provider.test]
    spf_all: "~all"
    tracking: {platform: smartlead}
    mta_sts: {enabled: true, mode: enforce}
    tls_rpt: ["mailto:tls@alpha.test"]
"""

KEY = generate_keypair(2048)[1]


def zones(text: str = INVENTORY) -> dict:  # type: ignore[type-arg]
    inv = parse_inventory_text(text, "i.yaml").inventory
    return desired_zones(inv, {d.name: KEY for d in inv.domains})


def values(zone, name: str, rtype: str) -> tuple[str, ...]:  # type: ignore[no-untyped-def]
    return next(r.values for r in zone.records if (r.name, r.type) == (name, rtype))


def test_sending_domain_records() -> None:
    beta = zones()["beta.test"]
    assert beta.error is None
    assert values(beta, "beta.test", "MX") == ("10 mail.alpha.test",)
    assert values(beta, "beta.test", "TXT") == ("v=spf1 ip4:127.0.0.10 ip6:::1 include:spf.provider.test ~all",)
    assert values(beta, "_dmarc.beta.test", "TXT") == (
        "v=DMARC1; p=quarantine; adkim=s; rua=mailto:reports@alpha.test",
    )
    assert values(beta, "dkim._domainkey.beta.test", "TXT")[0].endswith(KEY)
    assert values(beta, "emailtracking.beta.test", "CNAME") == ("open.sleadtrack.com",)
    assert values(beta, "_smtp._tls.beta.test", "TXT") == ("v=TLSRPTv1; rua=mailto:tls@alpha.test",)
    assert values(beta, "mta-sts.beta.test", "CNAME") == ("mail.alpha.test",)
    assert values(beta, "_autodiscover._tcp.beta.test", "SRV") == ("0 1 443 mail.alpha.test",)


def test_mail_host_address_and_report_authorisation_live_in_the_hosting_zone() -> None:
    alpha = zones()["alpha.test"]
    assert values(alpha, "mail.alpha.test", "A") == ("127.0.0.10",)
    assert values(alpha, "mail.alpha.test", "AAAA") == ("::1",)
    assert values(alpha, "beta.test._report._dmarc.alpha.test", "TXT") == ("v=DMARC1",)
    assert not any(r.name.endswith("._report._dmarc.beta.test") for r in zones()["beta.test"].records)


def test_mta_sts_id_follows_the_policy() -> None:
    inv = parse_inventory_text(INVENTORY, "i.yaml").inventory
    beta = inv.resolve(inv.domains[1])
    testing = inv.resolve(
        inv.domains[1].model_copy(update={"mta_sts": beta.mta_sts.model_copy(update={"mode": "testing"})})
    )
    assert mta_sts_id(mta_sts_policy(beta)) != mta_sts_id(mta_sts_policy(testing))
    assert "mx: mail.alpha.test" in mta_sts_policy(beta)


def test_too_many_spf_lookups_fail_that_domain_only() -> None:
    includes = ", ".join(f"i{n}.provider.test" for n in range(11))
    text = INVENTORY.replace("spf_includes: [spf.provider.test]", f"spf_includes: [{includes}]")
    result = zones(text)
    assert result["beta.test"].error is not None
    assert "SPF needs 11 DNS lookups" in result["beta.test"].error
    assert result["alpha.test"].error is None
    # beta's own records fail, but alpha still authorises its reports: that needs beta's DMARC addresses alone
    assert values(result["alpha.test"], "beta.test._report._dmarc.alpha.test", "TXT") == ("v=DMARC1",)


def test_invalid_dkim_key_names_domain_and_record() -> None:
    inv = parse_inventory_text(INVENTORY, "i.yaml").inventory
    result = desired_zones(inv, {"alpha.test": KEY, "beta.test": "bm90IGEga2V5"})
    assert (
        result["beta.test"].error
        == "beta.test: DKIM record dkim._domainkey: the DKIM public key is not an RSA public key"
    )


def test_unknown_tracking_platform_is_an_error() -> None:
    result = zones(INVENTORY.replace("platform: smartlead", "platform: lemlist"))
    assert "unknown tracking platform 'lemlist'" in (result["beta.test"].error or "")


def test_cname_tracking_host_beside_other_data_conflicts() -> None:
    text = INVENTORY.replace(
        "  - name: alpha.test\n",
        "  - name: alpha.test\n    tracking: {host: mail, target: x.track.test}\n",
    )
    result = zones(text)
    assert "mail.alpha.test has a CNAME beside other data (A, AAAA)" in (result["alpha.test"].error or "")
    text = INVENTORY.replace("tracking: {platform: smartlead}", "tracking: {host: autodiscover, target: x.track.test}")
    assert "is wanted as CNAME to" in (zones(text)["beta.test"].error or "")
