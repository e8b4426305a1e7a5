"""The Mailcow implementation of MailBackend: the client's calls, each write read back."""

from __future__ import annotations

import re
from typing import Any

from email_infrastructure.core.component import Health, HealthStatus
from email_infrastructure.core.errors import ConfigError, EmailInfraError, ProviderError, VerificationError
from email_infrastructure.core.inventory.loader import resolve_secret
from email_infrastructure.core.logging import register_secret
from email_infrastructure.core.rsa_keys import rsa_key_bits
from email_infrastructure.mailcow.backend import Alias, DkimKey, Mailbox, MailboxState, MailDomain
from email_infrastructure.mailcow.client import MailcowClient, MailcowWriteError
from email_infrastructure.mailcow.config import MailcowSettings

MIB = 1024 * 1024
#: the outbound limit's time frame: per day, as the inventory's daily_send_limit
RL_FRAME = "d"
#: tags Mailcow appends to a domain we created (edit/domain adds tags, never replaces them)
TAG = "email-infra"
#: the private comment of an alias we created: it marks ours on the server itself (a lost database
#: forgets nothing) and shows in Mailcow's UI; an alias without it is never deleted
ALIAS_MARK = "email-infra: managed by email-infrastructure"


def _int(value: Any) -> int:
    try:
        return int(str(value))
    except ValueError:
        return 0


#: a mailbox's `active` in Mailcow (0, 1, or 2: login disabled, mail still accepted)
STATE_CODES = {MailboxState.ACTIVE: 1, MailboxState.LOGIN_DISABLED: 2, MailboxState.INACTIVE: 0}
_STATES = {code: state for state, code in STATE_CODES.items()}


def _state(code: Any) -> MailboxState:
    """A mailbox's state from its `active_int` (an unknown value is read as inactive, never as active)."""
    return _STATES.get(_int(code), MailboxState.INACTIVE)


def _limit(rl: Any) -> int | None:
    """A daily limit from Mailcow's `{"value": "30", "frame": "d"}` (None: none, or not per day)."""
    if isinstance(rl, dict) and rl.get("frame") == RL_FRAME and _int(rl.get("value")):
        return _int(rl["value"])
    return None


class MailcowBackend:
    """One Mailcow server through its API."""

    def __init__(
        self, name: str, settings: MailcowSettings, client: MailcowClient | None = None, *, api_key: str | None = None
    ) -> None:
        self.name = name
        self.settings = settings
        #: the key from the vault (generated for a server we created) when settings declare none
        self._api_key = api_key
        self.mailbox_quota_mib = settings.mailbox_quota_mib
        self._client = client

    @property
    def client(self) -> MailcowClient:
        """The API client, created on first use (the key is resolved then)."""
        if self._client is None:
            if self.settings.api_key is not None:
                key = resolve_secret(self.settings.api_key)
            elif self._api_key is not None:
                key = self._api_key
                register_secret(key)
            else:
                raise ConfigError(
                    f"mail provider {self.name}: no api_key, and none generated yet (the key is generated "
                    "when the server that runs it is created; or declare api_key: env:NAME)"
                )
            self._client = MailcowClient(
                self.settings.url,
                key,
                verify_tls=self.settings.verify_tls,
                timeout=self.settings.timeout,
            )
            self._client.provider = self.name
        return self._client

    # domains ----------------------------------------------------------------------------------
    async def read_domain(self, domain: str) -> MailDomain | None:
        """The domain's limits, quotas converted from bytes to MiB."""
        body = await self.client.domain(domain)
        if body is None:
            return None
        return MailDomain(
            name=str(body["domain_name"]),
            max_mailboxes=_int(body["max_num_mboxes_for_domain"]),
            mailbox_quota_mib=_int(body["max_quota_for_mbox"]) // MIB,
            domain_quota_mib=_int(body["max_quota_for_domain"]) // MIB,
            active=_int(body.get("active_int", body.get("active", 1))) == 1,
        )

    async def ensure_domain(self, wanted: MailDomain, *, selector: str, bits: int, exists: bool) -> None:
        """add/domain (quotas in MiB, the DKIM selector and size for its automatic key) or edit/domain."""
        attrs = {
            "mailboxes": str(wanted.max_mailboxes),
            "defquota": str(wanted.mailbox_quota_mib),
            "maxquota": str(wanted.mailbox_quota_mib),
            "quota": str(wanted.domain_quota_mib),
            "active": "1" if wanted.active else "0",
        }
        if exists:
            await self.client.edit_domain(wanted.name, attrs)
        else:
            try:
                extra = {"description": wanted.name, "aliases": "400", "tags": [TAG]}
                dkim = {"dkim_selector": selector, "key_size": str(bits)}  # for its automatic key
                await self.client.add_domain({"domain": wanted.name, **extra, **attrs, **dkim})
            except MailcowWriteError as exc:
                if exc.code != "domain_exists":  # a previous run's call went through: read back decides
                    raise
        got = await self.read_domain(wanted.name)
        if got != wanted:
            raise VerificationError(
                f"{wanted.name}: the mail domain reads back as {got.to_json() if got else 'missing'}, "
                f"not {wanted.to_json()}",
                provider=self.name,
            )

    async def remove_domain(self, domain: str) -> None:
        """delete/domain (refused with domain_not_empty while mailboxes remain); the DKIM key stays."""
        await self.client.delete_domains([domain])
        if await self.client.domain(domain) is not None:
            raise VerificationError(
                f"{domain}: the mail domain still reads back after delete/domain", provider=self.name
            )

    # DKIM -------------------------------------------------------------------------------------
    async def read_dkim(self, domain: str) -> DkimKey | None:
        """The key Mailcow holds for the domain."""
        body = await self.client.dkim(domain)
        if body is None:
            return None
        public = re.sub(r"\s+", "", str(body["pubkey"]))
        return DkimKey(selector=str(body["dkim_selector"]), public_key=public, bits=rsa_key_bits(public))

    async def ensure_dkim(self, domain: str, selector: str, bits: int) -> DkimKey:
        """Keep a matching key; replace one of another selector or size (no edit/dkim exists)."""
        key = await self.read_dkim(domain)
        if key is not None and (key.selector != selector or key.bits != bits):
            await self.client.delete_dkim([domain])
            key = None
        if key is None:
            await self.client.add_dkim(domain, selector, bits)
            key = await self.read_dkim(domain)
        if key is None or key.selector != selector or key.bits != bits:
            raise VerificationError(f"{domain}: Mailcow reports no {bits}-bit DKIM key {selector}", provider=self.name)
        return key

    async def remove_dkim(self, domain: str) -> None:
        """delete/dkim (answers success whether or not a key existed: read back)."""
        await self.client.delete_dkim([domain])
        if await self.client.dkim(domain) is not None:
            raise VerificationError(f"{domain}: the DKIM key still reads back after delete/dkim", provider=self.name)

    # mailboxes --------------------------------------------------------------------------------
    @staticmethod
    def _mailbox(body: dict[str, Any]) -> Mailbox:
        scope_limit = _limit(body.get("rl")) if body.get("rl_scope", "mailbox") == "mailbox" else None
        return Mailbox(
            address=str(body["username"]),
            name=str(body.get("name") or ""),
            quota_mib=_int(body.get("quota", 0)) // MIB,
            daily_limit=scope_limit,
            state=_state(body.get("active_int", body.get("active", 1))),
        )

    async def mailboxes(self, domain: str) -> list[Mailbox]:
        """get/mailbox/all/<domain>, with each mailbox's own rate limit (as listed: a server that
        ignores the filter lists other domains' mailboxes too)."""
        return [self._mailbox(b) for b in await self.client.mailboxes(domain)]

    async def _verify(self, wanted: Mailbox) -> None:
        body = await self.client.mailbox(wanted.address)
        if body is None:
            raise VerificationError(f"{wanted.address}: the mailbox does not read back", provider=self.name)
        got = self._mailbox(body)
        # a misspelt rl_value deletes the limit and still answers rl_saved: read the limit itself
        limit = _limit(await self.client.mailbox_rate_limit(wanted.address))
        got = Mailbox(got.address, got.name, got.quota_mib, limit, got.state)
        if got != wanted:
            raise VerificationError(
                f"{wanted.address}: reads back as {got.to_json()}, not {wanted.to_json()}", provider=self.name
            )

    async def create_mailbox(self, wanted: Mailbox, password: str) -> None:
        """add/mailbox with `name`, quota and the daily limit always sent."""
        attrs = {
            "local_part": wanted.local_part,
            "domain": wanted.domain,
            "name": wanted.name,
            "password": password,
            "password2": password,
            "quota": str(wanted.quota_mib),
            "active": str(STATE_CODES[wanted.state]),
            "force_pw_update": "0",
            "rl_value": str(wanted.daily_limit or 0),
            "rl_frame": RL_FRAME,
        }
        try:
            await self.client.add_mailbox(attrs)
        except MailcowWriteError as exc:
            if exc.code != "object_exists":
                raise
            # it exists: our earlier call went through (then the password is ours), or someone else's
            raise ProviderError(
                f"{wanted.address}: exists already, with a password we may not hold", provider=self.name, code=exc.code
            ) from None
        await self._verify(wanted)

    async def update_mailbox(self, wanted: Mailbox) -> None:
        """edit/mailbox, then edit/rl-mbox (rl_frame is needed even to delete a limit)."""
        await self.client.edit_mailbox(
            wanted.address,
            {"name": wanted.name, "quota": str(wanted.quota_mib), "active": str(STATE_CODES[wanted.state])},
        )
        await self.client.set_mailbox_rate_limit(wanted.address, wanted.daily_limit or 0, RL_FRAME)
        await self._verify(wanted)

    async def remove_mailbox(self, address: str) -> None:
        """delete/mailbox, read back."""
        await self.client.delete_mailboxes([address])
        if await self.client.mailbox(address) is not None:
            raise VerificationError(f"{address}: the mailbox still reads back after delete/mailbox", provider=self.name)

    # aliases ----------------------------------------------------------------------------------
    async def aliases(self, domain: str) -> list[Alias]:
        """get/alias/all/<domain> (the catch-all's address is `@domain`)."""
        return [
            Alias(
                str(a["address"]),
                str(a["goto"]),
                _int(a.get("active_int", a.get("active", 0))) == 1,
                str(a["id"]),
                managed=str(a.get("private_comment") or "").strip() == ALIAS_MARK,
            )
            for a in await self.client.aliases(domain)
        ]

    async def _read_alias(self, address: str) -> Alias | None:
        domain = address.split("@", 1)[-1]
        return next((a for a in await self.aliases(domain) if a.address == address), None)

    async def ensure_alias(self, wanted: Alias, existing: Alias | None) -> None:
        """add/alias (with our mark) or edit/alias, `active` always sent (omitted means inactive);
        the targets read back in any order (Mailcow keeps them as sent, comma-joined)."""
        goto = wanted.goto
        if existing is None:
            try:
                await self.client.add_alias(wanted.address, goto, active=wanted.active, comment=ALIAS_MARK)
            except MailcowWriteError as exc:
                if exc.code != "is_alias_or_mailbox":  # a previous run's call went through: read back decides
                    raise
                existing = await self._read_alias(wanted.address)
                if existing is None:  # a mailbox holds the address
                    raise
                if not existing.same(wanted):
                    await self.client.edit_alias(existing.id, {"goto": goto, "active": "1" if wanted.active else "0"})
        else:
            attrs = {"goto": goto, "active": "1" if wanted.active else "0"}
            await self.client.edit_alias(existing.id, attrs)
        got = await self._read_alias(wanted.address)
        if got is None or not got.same(wanted):
            raise VerificationError(
                f"{wanted.address}: the alias does not read back as {wanted.to_json()}", provider=self.name
            )

    async def remove_alias(self, alias: Alias) -> None:
        """delete/alias by id, read back."""
        await self.client.delete_aliases([alias.id])
        if await self._read_alias(alias.address) is not None:
            raise VerificationError(
                f"{alias.address}: the alias still reads back after delete/alias", provider=self.name
            )

    # health -----------------------------------------------------------------------------------
    async def health(self) -> Health:
        """status/version and status/containers: down when unreachable or refused, degraded when a
        container is not running."""
        try:
            version = await self.client.version()
            containers = await self.client.containers()
        except EmailInfraError as exc:
            return Health(HealthStatus.DOWN, str(exc))
        stopped = sorted(n for n, c in containers.items() if c.get("state") != "running")
        checks = {n: str(c.get("state")) for n, c in containers.items()}
        if stopped:
            return Health(HealthStatus.DEGRADED, f"mailcow {version}: not running: {', '.join(stopped)}", checks)
        return Health(HealthStatus.OK, f"mailcow {version}: {len(containers)} containers running", checks)

    async def close(self) -> None:
        """Close the client."""
        if self._client is not None:
            await self._client.aclose()
