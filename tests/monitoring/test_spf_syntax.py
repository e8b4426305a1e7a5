"""SPF syntax (RFC 7208 §4.6.1 ABNF, §7.1 macro grammar) and static macro expansion."""

from __future__ import annotations

import pytest

from email_infrastructure.monitoring.spf_syntax import domain_spec_error, expand, is_spf, parse


@pytest.mark.parametrize(
    "spec",
    [
        "_spfh.%{d2}",
        "%{d2r}.example.com",
        "%{l-}.x.example.com",
        "%{ir}.%{v}._spf.%{d}",
        "a%%b%_c%-d.example.com",
        "foo-bar.xn--zckzah",
        "example.com.",
        "%{h}",
    ],
)
def test_valid_domain_specs(spec: str) -> None:
    assert domain_spec_error(spec) is None


@pytest.mark.parametrize(
    "spec",
    [
        "",
        "foo-bar",
        "museum.",
        "example.-com",
        "111.222.33.44",
        "example.com:8080",
        "%{a}.example.com",
        "%(ir).example.com",
        "%abc.example.com",
        "foo%.example.com",
        "%{d0}.example.com",
        "%{c}.example.com",
    ],
)
def test_invalid_domain_specs(spec: str) -> None:
    assert domain_spec_error(spec) is not None


@pytest.mark.parametrize(
    "record",
    [
        "v=spf1 a//129 -all",
        "v=spf1 ip4:127.0.0.1/033",
        "v=spf1 ip4:127.0.0.1//32",
        "v=spf1 include:x.test/24",
        "v=spf1 exists:x.test//64",
        "v=spf1 -all:x",
        "v=spf1 exp= -all",
        "v=spf1 exp=a.test exp=b.test -all",
        "v=spf1 redirect=a.test redirect=b.test",
        "v=spf1 1up=foo",
        "v=spf1 ip4:127.0.0.1\t-all",
        "v=spf1 a:x.test\x00",
        "v=spf1 ip6:fe80::1%eth0",
        "v=spf1 a:caf\u00e9.test -all",
    ],
)
def test_permerror_records(record: str) -> None:
    assert parse(record).errors, record


def test_terms_are_split_on_spaces_only_and_the_first_all_wins() -> None:
    record = parse("v=spf1  ip4:127.0.0.1   all -all ")
    assert record.errors == []
    first = record.first_all
    assert first is not None and first.qualifier == "+"
    assert is_spf("V=SPF1 -all") and not is_spf("v=spf10") and not is_spf(" v=spf1 -all")


def test_static_expansion() -> None:
    assert expand("_spfh.%{d2}", "mail.example.test", "example.test") == "_spfh.example.test"
    assert expand("%{d2r}.x.test", "email.example.com", "c") == "example.email.x.test"  # RFC 7208 §7.4
    assert expand("%{o}.x.test", "inc.test", "sender.test") == "sender.test.x.test"
    assert expand("%{i}.x.test", "a.test", "a.test") is None  # the sender's IP: not static
    assert expand("m%%p%_s%-u.test", "a.test", "a.test") == "m%p s%20u.test"
