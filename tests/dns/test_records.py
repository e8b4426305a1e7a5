"""The Record model: normalisation, TXT chunking, conflicts, DKIM keys."""

from __future__ import annotations

import base64

import pytest

from email_infrastructure.core.rsa_keys import generate_keypair, rsa_key_bits
from email_infrastructure.dns.dkim import dkim_txt
from email_infrastructure.dns.records import (
    Record,
    RecordError,
    check_conflicts,
    parse_txt,
    txt_chunks,
    txt_presentation,
)


def test_2048_bit_dkim_value_round_trips_through_255_byte_chunks() -> None:
    _, public = generate_keypair(2048)
    value = dkim_txt(public)
    assert len(value) == 410
    chunks = txt_chunks(value)
    assert [len(c) for c in chunks] == [255, 155]
    presented = txt_presentation(value)
    assert presented.count('"') == 4
    assert parse_txt(presented) == value


def test_chunking_never_cuts_a_utf8_character() -> None:
    value = "é" * 200
    chunks = txt_chunks(value)
    assert all(len(c) <= 255 for c in chunks)
    assert b"".join(chunks).decode("utf-8") == value
    assert parse_txt(txt_presentation(value)) == value


def test_parse_txt_unescapes_and_keeps_bare_text() -> None:
    assert parse_txt(r'"a\"b" "c\\d"') == 'a"bc\\d'
    assert parse_txt('"v=spf1 " "-all"') == "v=spf1 -all"
    assert parse_txt("v=spf1 -all") == "v=spf1 -all"
    assert parse_txt(r'"caf\195\169"') == "café"


def test_values_are_normalised() -> None:
    r = Record.make("Mail.Example.TEST.", "mx", ["10 MX.Example.Test."], 300)
    assert (r.name, r.type, r.values) == ("mail.example.test", "MX", ("10 mx.example.test",))
    assert Record.make("a.test", "AAAA", ["::0001"]).values == ("::1",)
    assert Record.make("x.test", "SRV", ["0 1 443 Host.Test."]).values == ("0 1 443 host.test",)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("a.test", "A", ["::1"]), "not an IPv4 address"),
        (("a.test", "A", ["127.0.0.1"], 30), "TTL 30 is outside 60..86400"),
        (("a.test", "A", ["127.0.0.1"], 100000), "TTL 100000"),
        (("a.test", "MX", ["mail.test"]), "is not 'PRIORITY HOST'"),
        (("a.test", "CNAME", ["b.test", "c.test"]), "exactly one target"),
        (("a.test", "HINFO", ["x"]), "not supported"),
    ],
)
def test_bad_records_are_refused_with_the_name(args: tuple, message: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(RecordError, match=message) as info:
        Record.make(*args)
    assert "a.test" in str(info.value)


def test_cname_beside_other_data_and_two_spf_records_conflict() -> None:
    with pytest.raises(RecordError, match="CNAME beside other data"):
        check_conflicts(
            [Record.make("w.test", "CNAME", ["x.test"]), Record.make("w.test", "TXT", ["x"])],
            "test",
        )
    with pytest.raises(RecordError, match="2 SPF records"):
        check_conflicts([Record.make("test.test", "TXT", ["v=spf1 -all", "v=spf1 ~all"])], "test")


def test_dkim_keys_are_validated() -> None:
    with pytest.raises(RecordError, match="not valid base64"):
        dkim_txt("not base64!!")
    with pytest.raises(RecordError, match="not an RSA public key"):
        dkim_txt(base64.b64encode(b"garbage that is base64").decode())
    _, small = generate_keypair(1024)
    assert rsa_key_bits(small) == 1024
    assert dkim_txt(small).startswith("v=DKIM1; k=rsa; p=MIGf")
