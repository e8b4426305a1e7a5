"""A faithful fake of Mailcow's REST API (../shared/reference/mailcow-api.md, commit 06424670fa5d).

Reproduces the routing (`/api/v1/<action>/<category>[/<object>]`, 404 "route not found", 405 per
method), the auth answers (401 for an unknown key or a refused IP, 403 for the read-only key on
writes and for a `Sec-Fetch-Dest` header, an empty 200 for a keyless `get`), writes that answer
HTTP 200 with an array of `{type, log, msg}` entries (`danger` for failures; a single object
"Task completed" when nothing was produced), `log` lengths per PHP function (mailbox 5, dkim 3,
ratelimit 4), the Default domain and mailbox templates (10 mailboxes, quotas in MiB written and
bytes read, `rl_saved` before `mailbox_added`), a mailbox's `active` 0, 1 or 2 (login disabled,
mail still accepted) stored and read back as sent, automatic DKIM on `add/domain`, `domain_not_empty`,
DKIM keys left behind by `delete/domain`, `{}` for anything missing, and a PHP session cookie
that a client must not keep.
"""

from __future__ import annotations

import base64
import copy
import json
import re
import secrets
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.fakes.http_server import json_response

Response = tuple[int, dict[str, str], bytes]
MIB = 1024 * 1024
_DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
_LOCAL = re.compile(r"^[A-Za-z0-9._+-]+$")
_SELECTOR = re.compile(r"^[A-Za-z0-9._-]+$")
#: what PHP's FILTER_VALIDATE_EMAIL takes, near enough for the fake (no quoted local parts)
_EMAIL = re.compile(
    r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*@[A-Za-z0-9.-]+\.[A-Za-z]{2,63}$"
)
#: the Default domain template (init_db.inc.php)
DOMAIN_DEFAULTS: dict[str, Any] = {
    "aliases": 400,
    "mailboxes": 10,
    "defquota": 3072,
    "maxquota": 10240,
    "quota": 10240,
    "active": 1,
    "backupmx": 0,
    "relay_all_recipients": 0,
    "relay_unknown_only": 0,
    "gal": 1,
}
SERVICES = ("acme", "clamd", "dockerapi", "dovecot", "ipv6nat", "memcached", "mysql", "netfilter", "nginx",
            "olefy", "php-fpm", "postfix", "redis", "rspamd", "sogo", "unbound", "watchdog")  # fmt: skip


def _keypair(bits: int) -> tuple[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
    ).decode()
    der = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return pem, base64.b64encode(der).decode()


def _masked(data: Any) -> Any:
    """Request data as `log` carries it: password and password2 replaced by `*`."""
    if isinstance(data, dict):
        return {k: "*" if k in ("password", "password2") else v for k, v in data.items()}
    return data


def _int(value: Any) -> int:
    """PHP's intval()."""
    try:
        return int(str(value).strip() or 0)
    except ValueError:
        return 0


def _numeric(value: Any) -> bool:
    return isinstance(value, int | float) or (isinstance(value, str) and bool(re.fullmatch(r"\d+", value.strip())))


def _empty(body: Any) -> Any:
    """Mailcow's `{}` for nothing found, also for lists."""
    return body if body else {}


@dataclass
class FakeMailcow:
    """State and behaviour of one Mailcow; call it as an App for FakeServer."""

    rw_key: str = "AAAAAA-BBBBBB-CCCCCC-DDDDDD-EEEEEE"
    ro_key: str = "111111-222222-333333-444444-555555"
    version: str = "2026-08"
    hostname: str = "mail.example.net"
    latency: float = 0.0
    #: the client's address is not in API_ALLOW_FROM
    ip_denied: bool = False
    #: key generation fails (add/domain still creates the domain beside the danger entry)
    dkim_keygen_fails: bool = False
    #: containers reported as not running
    stopped: set[str] = field(default_factory=set)
    #: `get/mailbox/all/<domain>` lists every domain's mailboxes (a server, or a proxy, that drops the filter)
    ignores_domain_filter: bool = False
    domains: dict[str, dict[str, Any]] = field(default_factory=dict)
    mailboxes: dict[str, dict[str, Any]] = field(default_factory=dict)
    aliases: dict[int, dict[str, Any]] = field(default_factory=dict)
    dkim: dict[str, dict[str, Any]] = field(default_factory=dict)
    rl_mbox: dict[str, tuple[str, str]] = field(default_factory=dict)
    rl_domain: dict[str, tuple[str, str]] = field(default_factory=dict)
    calls: Counter[str] = field(default_factory=Counter)
    #: every request as (method, path, headers, parsed body)
    requests: list[tuple[str, str, dict[str, str], Any]] = field(default_factory=list)
    sessions: set[str] = field(default_factory=set)
    _next_alias: int = 1
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # test helpers ----------------------------------------------------------------------------
    @property
    def writes(self) -> int:
        """POSTs received (every write goes through add/edit/delete)."""
        return sum(n for key, n in self.calls.items() if key.startswith("POST "))

    def passwords(self) -> dict[str, str]:
        """Each mailbox's password as the server stores it."""
        return {u: m["password"] for u, m in self.mailboxes.items()}

    # app -------------------------------------------------------------------------------------
    def __call__(
        self, method: str, path: str, query: dict[str, list[str]], headers: dict[str, str], body: bytes
    ) -> Response:
        with self._lock:
            status, out_headers, payload = self._handle(method, path, headers, body)
        if self.latency:  # slow to answer, after the work is done: a timed-out write may have happened
            time.sleep(self.latency)
        session = secrets.token_hex(8)
        if headers.get("x-api-key"):
            self.sessions.add(session)
        return status, {**out_headers, "Set-Cookie": f"PHPSESSID={session}; path=/; HttpOnly"}, payload

    def _handle(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Response:
        if headers.get("sec-fetch-dest", "empty") != "empty":
            return 403, {}, b""
        match = re.match(r"^/api/v1/(add|get|edit|delete|search)/([^/]+)(?:/(.*))?$", path)
        if not match:
            return json_response(404, {"type": "error", "msg": "route not found"})
        action, category, rest = match.group(1), match.group(2), match.group(3) or ""
        if action == "get" and method != "GET":
            return json_response(405, {"type": "error", "msg": "only GET method is allowed"})
        if action != "get" and method != "POST":
            return json_response(405, {"type": "error", "msg": "only POST method is allowed"})
        data: Any = None
        if method != "GET" and "application/json" in headers.get("content-type", ""):
            try:
                data = json.loads(body or b"null")
            except ValueError:
                return json_response(400, {"type": "error", "msg": "Request body doesn't contain valid json!"})
        self.calls[f"{method} {action}/{category}"] += 1
        self.requests.append((method, path, dict(headers), data))
        raw_key = headers.get("x-api-key")
        cookie = re.search(r"PHPSESSID=([0-9a-f]+)", headers.get("cookie", ""))
        if raw_key is None:
            if cookie and cookie.group(1) in self.sessions:
                role = "rw"  # the trap: a kept session cookie is an admin session without the key
            elif action == "get":
                return 200, {"Content-Type": "text/html"}, b""
            elif action == "add":
                return json_response(200, [{"type": "danger", "log": ["mailbox", "add", category, {}, None],
                                            "msg": "access_denied"}])  # fmt: skip
            else:
                return json_response(403, {"type": "error", "msg": "API read/write access denied"})
        else:
            key = re.sub(r"[^A-Za-z0-9-]", "", raw_key)
            if key not in (self.rw_key, self.ro_key):
                return json_response(401, {"type": "error", "msg": "authentication failed"})
            if self.ip_denied:
                return json_response(401, {"type": "error", "msg": "api access denied for ip 127.0.0.1"})
            role = "rw" if key == self.rw_key else "ro"
        if action != "get" and role != "rw":
            return json_response(403, {"type": "error", "msg": "API read/write access denied"})
        if action == "get":
            found = self._get(category, rest)
            if found is None:
                return json_response(404, {"type": "error", "msg": "route not found"})
            return json_response(200, found)
        handler = getattr(self, f"_{action}_{category.replace('-', '_')}", None)
        if handler is None:
            return json_response(404, {"type": "error", "msg": "route not found"})
        if action in ("edit",) and (not isinstance(data, dict) or "attr" not in data or "items" not in data):
            return json_response(200, {"type": "error", "msg": "Cannot find attributes in post data"})
        entries: list[dict[str, Any]] = handler(data)
        if not entries:
            return json_response(200, {"type": "success", "msg": "Task completed"})
        return json_response(200, entries)

    # entries ---------------------------------------------------------------------------------
    @staticmethod
    def _mailbox_entry(kind: str, action: str, category: str, data: Any, msg: Any) -> dict[str, Any]:
        return {"type": kind, "log": ["mailbox", action, category, _masked(data), None], "msg": msg}

    @staticmethod
    def _dkim_entry(kind: str, action: str, data: Any, msg: Any) -> dict[str, Any]:
        return {"type": kind, "log": ["dkim", action, _masked(data)], "msg": msg}

    @staticmethod
    def _rl_entry(kind: str, scope: str, data: Any, msg: Any) -> dict[str, Any]:
        return {"type": kind, "log": ["ratelimit", "edit", scope, _masked(data)], "msg": msg}

    # reads -----------------------------------------------------------------------------------
    def _get(self, category: str, rest: str) -> Any:
        parts = rest.split("/") if rest else []
        if category == "domain":
            if parts == ["all"]:
                return _empty([self._domain_view(d) for d in sorted(self.domains)])
            return self._domain_view(parts[0]) if parts and parts[0] in self.domains else {}
        if category == "mailbox":
            if parts[:1] == ["all"]:
                wanted = set(parts[1].split(",")) if len(parts) > 1 and not self.ignores_domain_filter else None
                views = [self._mailbox_view(u) for u in sorted(self.mailboxes)]
                return _empty([v for v in views if wanted is None or v["domain"] in wanted])
            return self._mailbox_view(parts[0]) if parts and parts[0] in self.mailboxes else {}
        if category == "alias":
            if parts[:1] == ["all"]:
                wanted = set(parts[1].split(",")) if len(parts) > 1 else None
                views = [self._alias_view(i) for i in sorted(self.aliases) if not self._self_alias(i)]
                return _empty([v for v in views if wanted is None or v["domain"] in wanted])
            found = [i for i, a in self.aliases.items() if parts and parts[0] in (str(i), a["address"])]
            return self._alias_view(found[0]) if found and not self._self_alias(found[0]) else {}
        if category == "dkim":
            key = self.dkim.get(parts[0]) if parts else None
            if key is None:
                return {}
            return {
                "pubkey": key["pubkey"],
                "length": str(key["bits"]),
                "dkim_selector": key["selector"],
                "dkim_txt": f"v=DKIM1;k=rsa;t=s;s=email;p={key['pubkey']}",
                "privkey": "",
            }
        if category == "rl-mbox":
            if parts == ["all"]:
                return _empty([{"value": v, "frame": f, "mailbox": u} for u, (v, f) in sorted(self.rl_mbox.items())])
            limit = self.rl_mbox.get(parts[0]) if parts else None
            return {"value": limit[0], "frame": limit[1]} if limit else {}
        if category == "status":
            if parts == ["containers"]:
                return {
                    f"{s}-mailcow": {
                        "type": "info",
                        "container": f"{s}-mailcow",
                        "state": "exited" if s in self.stopped else "running",
                        "started_at": "2026-08-01T00:00:00.000000000Z",
                        "image": f"mailcow/{s}:1.0",
                    }
                    for s in SERVICES
                }
            if parts == ["version"]:
                return {"version": self.version}
        return None

    def _domain_view(self, name: str) -> dict[str, Any]:
        d = self.domains[name]
        boxes = [m for m in self.mailboxes.values() if m["domain"] == name]
        limit = self.rl_domain.get(name)
        used = sum(m["quota"] for m in boxes)
        return {
            "domain_name": name,
            "domain_h_name": name,
            "description": d["description"],
            "max_num_aliases_for_domain": d["aliases"],
            "max_num_mboxes_for_domain": d["mailboxes"],
            "def_quota_for_mbox": d["defquota"] * MIB,
            "max_quota_for_mbox": d["maxquota"] * MIB,
            "max_quota_for_domain": d["quota"] * MIB,
            "def_new_mailbox_quota": min(d["defquota"], d["quota"] - used) * MIB,
            "max_new_mailbox_quota": min(d["maxquota"], d["quota"] - used) * MIB,
            "quota_used_in_domain": str(used * MIB),
            "bytes_total": 0,
            "msgs_total": 0,
            "mboxes_in_domain": len(boxes),
            "mboxes_left": d["mailboxes"] - len(boxes),
            "aliases_in_domain": sum(a["domain"] == name for i, a in self.aliases.items() if not self._self_alias(i)),
            "aliases_left": d["aliases"],
            "relayhost": "0",
            "backupmx": str(d["backupmx"]),
            "backupmx_int": d["backupmx"],
            "gal": str(d["gal"]),
            "gal_int": d["gal"],
            "active": str(d["active"]),
            "active_int": d["active"],
            "relay_all_recipients": str(d["relay_all_recipients"]),
            "relay_all_recipients_int": d["relay_all_recipients"],
            "relay_unknown_only": str(d["relay_unknown_only"]),
            "relay_unknown_only_int": d["relay_unknown_only"],
            "rl": {"value": limit[0], "frame": limit[1]} if limit else False,
            "created": d["created"],
            "modified": None,
            "domain_admins": "-",
            **({"tags": list(d["tags"])} if d["tags"] else {}),
        }

    def _mailbox_view(self, username: str) -> dict[str, Any]:
        m = self.mailboxes[username]
        own = self.rl_mbox.get(username)
        dom = self.rl_domain.get(m["domain"])
        limit = own or dom
        return {
            "username": username,
            "active": str(m["active"]),
            "active_int": m["active"],
            "domain": m["domain"],
            "name": m["name"],
            "local_part": m["local_part"],
            "quota": m["quota"] * MIB,
            "messages": 0,
            "quota_used": 0,
            "percent_in_use": "- " if m["quota"] == 0 else 0,
            "created": m["created"],
            "modified": None,
            "authsource": "mailcow",
            "last_imap_login": 0,
            "last_smtp_login": 0,
            "last_pop3_login": 0,
            "last_sso_login": 0,
            "attributes": {"force_pw_update": "0", "imap_access": "1", "smtp_access": "1", "sogo_access": "1"},
            "rl": {"value": limit[0], "frame": limit[1]} if limit else False,
            "rl_scope": "mailbox" if own else "domain",
            "sender_acl": [],
            "tags": [],
        }

    def _self_alias(self, alias_id: int) -> bool:
        alias = self.aliases[alias_id]
        return bool(alias["address"] == alias["goto"] and alias["address"] in self.mailboxes)

    def _alias_view(self, alias_id: int) -> dict[str, Any]:
        a = self.aliases[alias_id]
        return {
            "id": alias_id,
            "address": a["address"],
            "goto": a["goto"],
            "domain": a["domain"],
            "in_primary_domain": a["domain"],
            "is_catch_all": int(a["address"].startswith("@")),
            "internal": str(a["internal"]),
            "active": str(a["active"]),
            "active_int": a["active"],
            "sogo_visible": str(a["sogo_visible"]),
            "sogo_visible_int": a["sogo_visible"],
            "sender_allowed": str(a["sender_allowed"]),
            "public_comment": a["public_comment"],
            "private_comment": a["private_comment"],
            "created": a["created"],
            "modified": None,
        }

    # domains ---------------------------------------------------------------------------------
    def _add_domain(self, data: Any) -> list[dict[str, Any]]:
        data = data if isinstance(data, dict) else {}
        entry = self._mailbox_entry
        name = str(data.get("domain", "")).strip().lower()
        if not _DOMAIN.match(name):
            return [entry("danger", "add", "domain", data, "domain_invalid")]
        if name in self.domains:
            return [entry("danger", "add", "domain", data, ["domain_exists", name])]
        if name == self.hostname:
            return [entry("danger", "add", "domain", data, "domain_cannot_match_hostname")]
        attrs = dict(DOMAIN_DEFAULTS)
        for key in ("aliases", "mailboxes", "defquota", "maxquota", "quota", "active", "backupmx", "gal",
                    "relay_all_recipients", "relay_unknown_only"):  # fmt: skip
            if key in data:
                if not _numeric(data[key]):
                    return [entry("danger", "add", "domain", data, ["object_is_not_numeric", str(data[key])])]
                attrs[key] = _int(data[key])
        if attrs["defquota"] > attrs["maxquota"]:
            return [entry("danger", "add", "domain", data, "mailbox_defquota_exceeds_mailbox_maxquota")]
        if attrs["maxquota"] > attrs["quota"]:
            return [entry("danger", "add", "domain", data, "mailbox_quota_exceeds_domain_quota")]
        out: list[dict[str, Any]] = []
        self.domains[name] = {
            **attrs,
            "description": str(data.get("description") or name),
            "tags": list(data.get("tags") or []),
            "created": "2026-08-01 00:00:00",
        }
        if str(data.get("rl_value", "")).strip():
            frame = str(data.get("rl_frame") or "s")
            self.rl_domain[name] = (str(_int(data["rl_value"])), frame)
            out.append(self._rl_entry("success", "domain", {"rl_value": data["rl_value"], "rl_frame": frame},
                                      ["rl_saved", name]))  # fmt: skip
        selector = str(data.get("dkim_selector") or "dkim")
        bits = _int(data.get("key_size") or 2048)
        dkim_data = {"domains": name, "dkim_selector": selector, "key_size": bits}
        if name in self.dkim:
            out.append(entry("success", "add", "domain", data, ["domain_add_dkim_available", name]))
        elif self.dkim_keygen_fails or not _SELECTOR.match(selector) or bits < 1024:
            out.append(self._dkim_entry("danger", "add", dkim_data, ["dkim_domain_or_sel_invalid", name]))
        else:
            self._new_dkim(name, selector, bits)
            out.append(self._dkim_entry("success", "add", dkim_data, ["dkim_added", name]))
        out.append(entry("success", "add", "domain", data, ["domain_added", name]))
        return out

    def _new_dkim(self, domain: str, selector: str, bits: int) -> None:
        private, public = _keypair(bits)
        self.dkim[domain] = {"selector": selector, "bits": bits, "pubkey": public, "private": private}

    def _edit_domain(self, data: dict[str, Any]) -> list[dict[str, Any]]:
        items = data["items"] if isinstance(data["items"], list) else [data["items"]]
        attr = data["attr"] if isinstance(data["attr"], dict) else {}
        out = []
        for item in items:
            name = str(item).lower()
            if name not in self.domains:
                out.append(self._mailbox_entry("danger", "edit", "domain", data, "domain_invalid"))
                continue
            d = self.domains[name]
            in_use = sum(m["domain"] == name for m in self.mailboxes.values())
            if "mailboxes" in attr and _int(attr["mailboxes"]) < in_use:
                out.append(self._mailbox_entry("danger", "edit", "domain", data, ["mailboxes_in_use", str(in_use)]))
                continue
            for key in ("aliases", "mailboxes", "defquota", "maxquota", "quota", "active", "backupmx", "gal",
                        "relay_all_recipients", "relay_unknown_only"):  # fmt: skip
                if key in attr:
                    d[key] = _int(attr[key])
            if "description" in attr:
                d["description"] = str(attr["description"])
            d["tags"] = [*d["tags"], *[t for t in attr.get("tags") or [] if t not in d["tags"]]]  # added, not replaced
            out.append(self._mailbox_entry("success", "edit", "domain", data, ["domain_modified", name]))
        return out

    def _delete_domain(self, data: Any) -> list[dict[str, Any]]:
        out = []
        for item in data if isinstance(data, list) else []:
            name = str(item).lower()
            if name not in self.domains:
                out.append(self._mailbox_entry("danger", "delete", "domain", data, "domain_invalid"))
                continue
            if any(m["domain"] == name for m in self.mailboxes.values()):
                out.append(self._mailbox_entry("danger", "delete", "domain", data, ["domain_not_empty", name]))
                continue
            del self.domains[name]
            self.rl_domain.pop(name, None)
            for alias_id in [i for i, a in self.aliases.items() if a["domain"] == name]:
                del self.aliases[alias_id]
            # the DKIM key stays (mailcow/mailcow-dockerized#5593)
            out.append(self._mailbox_entry("success", "delete", "domain", data, ["domain_removed", name]))
        return out

    # DKIM ------------------------------------------------------------------------------------
    def _add_dkim(self, data: Any) -> list[dict[str, Any]]:
        data = data if isinstance(data, dict) else {}
        if "domains" not in data:
            return []  # "Task completed": `domain` (singular) silently does nothing
        selector = str(data.get("dkim_selector") or "dkim")
        bits = _int(data.get("key_size"))
        out = []
        for name in [d for d in re.split(r"[\s,;]+", str(data["domains"])) if d]:
            if name not in self.domains:
                out.append(self._dkim_entry("danger", "add", data, ["access_denied", name]))
            elif name in self.dkim or self.dkim_keygen_fails or not _SELECTOR.match(selector) or bits < 1024:
                out.append(self._dkim_entry("danger", "add", data, ["dkim_domain_or_sel_invalid", name]))
            else:
                self._new_dkim(name, selector, bits)
                out.append(self._dkim_entry("success", "add", data, ["dkim_added", name]))
        return out

    def _delete_dkim(self, data: Any) -> list[dict[str, Any]]:
        out = []
        for item in data if isinstance(data, list) else []:
            name = str(item).lower()
            if not _DOMAIN.match(name):
                out.append(self._dkim_entry("danger", "delete", data, ["dkim_domain_or_sel_invalid", name]))
                continue
            self.dkim.pop(name, None)  # no existence check: always "removed"
            out.append(self._dkim_entry("success", "delete", data, ["dkim_removed", name]))
        return out

    # mailboxes -------------------------------------------------------------------------------
    def _add_mailbox(self, data: Any) -> list[dict[str, Any]]:
        data = data if isinstance(data, dict) else {}
        entry = self._mailbox_entry
        local = str(data.get("local_part", "")).strip().lower()
        domain = str(data.get("domain", "")).strip().lower()

        def fail(msg: Any) -> list[dict[str, Any]]:
            return [entry("danger", "add", "mailbox", data, msg)]

        if not _DOMAIN.match(domain):
            return fail("domain_invalid")
        if not local or not _LOCAL.match(local):
            return fail("mailbox_invalid")
        username = f"{local}@{domain}"
        if domain not in self.domains:
            return fail(["domain_not_found", domain])
        if username in self.mailboxes:
            return fail(["object_exists", username])
        if any(a["address"] == username for a in self.aliases.values()):
            return fail(["is_alias", username])
        password, password2 = str(data.get("password", "")), str(data.get("password2", ""))
        if password != password2:
            return fail("password_mismatch")
        if len(password) < 6:
            return [{"type": "danger", "log": ["password_check", None, None], "msg": "password_complexity"}]
        d = self.domains[domain]
        count = sum(m["domain"] == domain for m in self.mailboxes.values())
        if count >= d["mailboxes"]:
            return fail(["max_mailbox_exceeded", str(count), str(d["mailboxes"])])
        quota = _int(data.get("quota", 0))  # the Default mailbox template: 0 = unlimited
        if quota > d["maxquota"]:
            return fail(["mailbox_quota_exceeded", str(d["maxquota"])])
        left = d["quota"] - sum(m["quota"] for m in self.mailboxes.values() if m["domain"] == domain)
        if quota > left:
            return fail(["mailbox_quota_left_exceeded", str(left)])
        # `$name = local_part`, then overwritten by the body's name: absent means empty
        name = str(data.get("name", "")).strip().lstrip("<").rstrip(">")
        self.mailboxes[username] = {
            "local_part": local,
            "domain": domain,
            "name": name,
            "quota": quota,
            "active": _int(data.get("active", 1)),
            "password": password,
            "created": "2026-08-01 00:00:00",
        }
        self._alias(username, username, domain, active=1)
        # The template's rl_frame "s" / rl_value "" are both set: ratelimit('edit','mailbox') always runs.
        frame = str(data.get("rl_frame", "s"))
        value = _int(data.get("rl_value", ""))
        rl_data = {"rl_value": data.get("rl_value", ""), "rl_frame": frame, "object": username}
        if value:
            self.rl_mbox[username] = (str(value), frame)
        out = [self._rl_entry("success", "mailbox", rl_data, ["rl_saved", username])]
        out.append(entry("success", "add", "mailbox", data, ["mailbox_added", username]))
        return out

    def _edit_mailbox(self, data: dict[str, Any]) -> list[dict[str, Any]]:
        items = data["items"] if isinstance(data["items"], list) else [data["items"]]
        attr = data["attr"] if isinstance(data["attr"], dict) else {}
        out = []
        for item in items:
            username = str(item).lower()
            m = self.mailboxes.get(username)
            if m is None:
                out.append(self._mailbox_entry("danger", "edit", "mailbox", data, "access_denied"))
                continue
            if attr.get("password") or attr.get("password2"):
                if attr.get("password") != attr.get("password2"):
                    out.append(self._mailbox_entry("danger", "edit", "mailbox", data, "password_mismatch"))
                    continue
                m["password"] = str(attr["password"])
            if "quota" in attr:
                m["quota"] = _int(attr["quota"])
            if "active" in attr:
                m["active"] = _int(attr["active"])
            if "name" in attr:
                m["name"] = str(attr["name"])
            out.append(self._mailbox_entry("success", "edit", "mailbox", data, ["mailbox_modified", username]))
        return out

    def _delete_mailbox(self, data: Any) -> list[dict[str, Any]]:
        out = []
        for item in data if isinstance(data, list) else []:
            username = str(item).lower()
            if username not in self.mailboxes:
                out.append(self._mailbox_entry("danger", "delete", "mailbox", data, "access_denied"))
                continue
            del self.mailboxes[username]
            self.rl_mbox.pop(username, None)
            for alias_id in [i for i, a in self.aliases.items() if a["address"] == username == a["goto"]]:
                del self.aliases[alias_id]
            out.append(self._mailbox_entry("success", "delete", "mailbox", data, ["mailbox_removed", username]))
        return out

    def _edit_rl_mbox(self, data: dict[str, Any]) -> list[dict[str, Any]]:
        items = data["items"] if isinstance(data["items"], list) else [data["items"]]
        attr = data["attr"] if isinstance(data["attr"], dict) else {}
        frame = str(attr.get("rl_frame", ""))
        out = []
        for item in items:
            username = str(item).lower()
            if frame not in ("s", "m", "h", "d"):  # checked before anything else, even to delete
                out.append(self._rl_entry("danger", "mailbox", data, "rl_timeframe"))
                continue
            if username not in self.mailboxes:
                out.append(self._rl_entry("danger", "mailbox", data, "access_denied"))
                continue
            value = _int(attr.get("rl_value"))  # a misspelt key is intval(null) = 0: deleted, "saved"
            if value:
                self.rl_mbox[username] = (str(value), frame)
            else:
                self.rl_mbox.pop(username, None)
            out.append(self._rl_entry("success", "mailbox", data, ["rl_saved", username]))
        return out

    # aliases ---------------------------------------------------------------------------------
    def _alias(self, address: str, goto: str, domain: str, *, active: int, **extra: Any) -> int:
        alias_id = self._next_alias
        self._next_alias += 1
        self.aliases[alias_id] = {
            "address": address,
            "goto": goto,
            "domain": domain,
            "active": active,
            "internal": _int(extra.get("internal", 0)),
            "sogo_visible": _int(extra.get("sogo_visible", 0)),
            "sender_allowed": _int(extra.get("sender_allowed", 0)),
            "public_comment": str(extra.get("public_comment", "")),
            "private_comment": str(extra.get("private_comment", "")),
            "created": "2026-08-01 00:00:00",
        }
        return alias_id

    def _gotos(self, raw: str, address: str, data: Any, action: str) -> tuple[list[str], list[dict[str, Any]]]:
        """Targets split on space , ; and newline, each checked like FILTER_VALIDATE_EMAIL (a bad one
        is a `goto_invalid` entry and is dropped; on edit, the alias itself `alias_goto_identical`),
        each once, in the order sent."""
        out: list[str] = []
        entries = []
        for goto in (g.strip() for g in re.split(r"[ ,;\n]", raw)):
            if not goto:
                continue
            if not _EMAIL.match(goto):
                entries.append(self._mailbox_entry("danger", action, "alias", data, ["goto_invalid", goto]))
            elif action == "edit" and goto == address:
                entries.append(self._mailbox_entry("danger", action, "alias", data, "alias_goto_identical"))
            elif goto not in out:
                out.append(goto)
        return out, entries

    @staticmethod
    def _special_goto(attr: dict[str, Any]) -> str | None:
        """goto_null, goto_spam or goto_ham (checked in this order): the fixed target it stands for."""
        for key, target in (
            ("goto_null", "null@localhost"),
            ("goto_spam", "spam@localhost"),
            ("goto_ham", "ham@localhost"),
        ):
            if _int(attr.get(key)) == 1:
                return target
        return None

    def _add_alias(self, data: Any) -> list[dict[str, Any]]:
        data = data if isinstance(data, dict) else {}
        entry = self._mailbox_entry
        addresses = [a for a in re.split(r"[\s,;]+", str(data.get("address", "")).lower()) if a]
        if len(str(data.get("private_comment", ""))) > 160 or len(str(data.get("public_comment", ""))) > 160:
            return [entry("danger", "add", "alias", data, "comment_too_long")]
        if not addresses:
            return [entry("danger", "add", "alias", data, "alias_empty")]
        special = self._special_goto(data)
        if not str(data.get("goto", "")).strip() and special is None:
            return [entry("danger", "add", "alias", data, "goto_empty")]
        out: list[dict[str, Any]] = []
        gotos = [special] if special else []
        if special is None:
            gotos, out = self._gotos(str(data.get("goto", "")), "", data, "add")
            if not gotos:
                return out  # the PHP returns false: only the goto_invalid entries
        for address in addresses:
            if address in gotos:
                continue  # an address that is its own target is skipped without a word
            local, _, domain = address.partition("@")
            if domain not in self.domains:
                out.append(entry("danger", "add", "alias", data, ["domain_not_found", domain]))
                continue
            if address in self.mailboxes or any(a["address"] == address for a in self.aliases.values()):
                out.append(entry("danger", "add", "alias", data, ["is_alias_or_mailbox", address]))
                continue
            if local and not _EMAIL.match(address):
                out.append(entry("danger", "add", "alias", data, ["alias_invalid", address]))
                continue
            # active, sogo_visible, internal, sender_allowed: intval() with no default → 0; an empty
            # local part is the domain's catch-all, stored as @domain
            extra = {
                k: v
                for k, v in data.items()
                if k in ("internal", "sogo_visible", "sender_allowed", "public_comment", "private_comment")
            }
            alias_id = self._alias(address, ",".join(gotos), domain, active=_int(data.get("active")), **extra)
            out.append(entry("success", "add", "alias", data, ["alias_added", address, str(alias_id)]))
        return out

    def _edit_alias(self, data: dict[str, Any]) -> list[dict[str, Any]]:
        items = data["items"] if isinstance(data["items"], list) else [data["items"]]
        attr = data["attr"] if isinstance(data["attr"], dict) else {}
        out = []
        for item in items:
            alias = self.aliases.get(_int(item))
            if alias is None:
                out.append(self._mailbox_entry("danger", "edit", "alias", data, "alias_invalid"))
                continue
            for key in ("active", "sogo_visible", "internal", "sender_allowed"):
                if key in attr:
                    alias[key] = _int(attr[key])
            for key in ("public_comment", "private_comment"):
                if key in attr:
                    alias[key] = str(attr[key])
            special = self._special_goto(attr)
            if special is not None:
                alias["goto"] = special
            else:
                raw = str(attr.get("goto") or "") or alias["goto"]
                gotos, problems = self._gotos(raw, alias["address"], data, "edit")
                out += problems
                if gotos:  # nothing valid left: the goto stays as it was, and the edit still "succeeds"
                    alias["goto"] = ",".join(gotos)
            out.append(self._mailbox_entry("success", "edit", "alias", data, ["alias_modified", alias["address"]]))
        return out

    def _delete_alias(self, data: Any) -> list[dict[str, Any]]:
        out = []
        for item in data if isinstance(data, list) else []:
            alias = self.aliases.pop(_int(item), None)
            if alias is None:
                out.append(self._mailbox_entry("danger", "delete", "alias", data, "access_denied"))
                continue
            out.append(self._mailbox_entry("success", "delete", "alias", data, ["alias_removed", alias["address"]]))
        return out

    def snapshot(self) -> dict[str, Any]:
        """A deep copy of the state (to compare before/after)."""
        return copy.deepcopy(
            {"domains": self.domains, "mailboxes": self.mailboxes, "aliases": self.aliases, "rl": self.rl_mbox}
        )
