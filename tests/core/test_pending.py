"""Placeholder addresses of servers still to be created are shown as known after apply."""

from __future__ import annotations

from email_infrastructure.core.pending import PENDING_IPV4, PENDING_IPV6, has_pending, mask_pending


def test_placeholders_are_masked_as_whole_tokens_only() -> None:
    spf = f"v=spf1 mx ip4:{PENDING_IPV4} ip6:{PENDING_IPV6} -all"
    assert mask_pending(spf) == "v=spf1 mx ip4:(known after apply) ip6:(known after apply) -all"
    assert mask_pending({"values": [PENDING_IPV4], "ttl": 3600}) == {"values": ["(known after apply)"], "ttl": 3600}
    # a real address that merely contains the placeholder's digits is left alone
    assert mask_pending("v=spf1 ip4:10.0.0.0 -all") == "v=spf1 ip4:10.0.0.0 -all"
    assert mask_pending("127.0.0.10") == "127.0.0.10"


def test_has_pending_sees_quoted_txt_values() -> None:
    assert has_pending([f'"v=spf1 ip4:{PENDING_IPV4} -all"'])
    assert has_pending([PENDING_IPV6])
    assert not has_pending(["v=spf1 ip4:127.0.0.1 -all", "10 mail.example.test."])


def test_strings_without_a_placeholder_come_back_as_they_are() -> None:
    # the fast path for strings holding neither "0.0.0.0" nor "::" must not change what is masked
    assert (
        mask_pending("v=spf1 ip6:2001:db8::1 ip4:0.0.0.0 -all") == "v=spf1 ip6:2001:db8::1 ip4:(known after apply) -all"
    )
    assert mask_pending("ip6::: ip4:127.0.0.1") == "ip6:(known after apply) ip4:127.0.0.1"
    text = "v=DMARC1; p=none; rua=mailto:r@d0.test"
    assert mask_pending(text) is text
