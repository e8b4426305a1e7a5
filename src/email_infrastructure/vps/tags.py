"""Ownership labels as tags, for providers that have tags instead of key/value labels (DigitalOcean, Vultr).

DigitalOcean tags allow letters, digits, `:`, `-` and `_`, so `managed-by=email-infra` becomes the
tag `email-infra` and `email-infra-server=mx1.a` becomes `email-infra-server:mx1_da`: inside a
value `_` is written `__` and `.` is written `_d`, which reads back unambiguously.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from email_infrastructure.vps.provider import MANAGED_LABEL, MANAGED_VALUE, SERVER_LABEL

MANAGED_TAG = MANAGED_VALUE


def _escape(value: str) -> str:
    return value.replace("_", "__").replace(".", "_d")


def _unescape(value: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(value):
        if value[i] == "_" and i + 1 < len(value) and value[i + 1] in "_d":
            out.append("_" if value[i + 1] == "_" else ".")
            i += 2
        else:
            out.append(value[i])
            i += 1
    return "".join(out)


def server_tag(name: str) -> str:
    """The tag that carries the inventory's server name."""
    return f"{SERVER_LABEL}:{_escape(name)}"


def labels_to_tags(labels: Mapping[str, str]) -> list[str]:
    """`{managed-by: email-infra, k: v}` → `["email-infra", "k:v"]`."""
    tags = []
    for key, value in labels.items():
        if key == MANAGED_LABEL and value == MANAGED_VALUE:
            tags.append(MANAGED_TAG)
        else:
            tags.append(f"{key}:{_escape(value)}")
    return tags


def tags_to_labels(tags: Iterable[str]) -> dict[str, str]:
    """The inverse of labels_to_tags; tags that are not `key:value` (other than ours) are skipped."""
    labels: dict[str, str] = {}
    for tag in tags:
        if tag == MANAGED_TAG:
            labels[MANAGED_LABEL] = MANAGED_VALUE
        elif ":" in tag:
            key, value = tag.split(":", 1)
            labels[key] = _unescape(value)
    return labels
