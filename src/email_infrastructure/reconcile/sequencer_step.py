"""`sequencer.accounts:<d>@<s>`: a domain's mailboxes as accounts at one sequencer, after `mail.mailboxes:<d>`.

The plan reads the sequencer's accounts once per run (one listing shared by every domain's step:
a no-op plan of 1,000 mailboxes costs one page per 100 accounts) and compares each wanted account
with it: missing → create (with the vault's password and the server's SMTP/IMAP host and ports),
declared settings that differ → update, our password changed since the push (its fingerprint
differs) → give it the new one, an account we created that the desired state no longer wants →
delete, only with `prune` and within the deletion guard. An account that was there before us is
recorded (adopted) and updated, never deleted. Plans never hold a password.

Every change is logged exactly once through an intent (reconcile/mail/common.py): written before
the platform call, confirmed after with the account's stored row. A run killed in between leaves
the intent; the next plan sees the account there (or not) and settles it — a create is never sent
twice for one lost answer (the provider looks the account up first).
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from email_infrastructure.core.errors import EmailInfraError, ProviderError
from email_infrastructure.core.events import Event
from email_infrastructure.core.inventory import ResolvedDomain
from email_infrastructure.core.secret_names import password_key
from email_infrastructure.reconcile.context import ReconcileContext
from email_infrastructure.reconcile.graph import Outputs, Step, StepChange, StepPlan
from email_infrastructure.reconcile.mail.common import intend, intent_made, intent_scope, step_error
from email_infrastructure.reconcile.mail.mailbox_ops import deletion_safety
from email_infrastructure.reconcile.sequencer_wanted import Wanted
from email_infrastructure.sequencers import events
from email_infrastructure.sequencers.provider import AccountExistsError, Login, RemoteAccount, SequencerProvider
from email_infrastructure.storage.models import utcnow
from email_infrastructure.storage.sequencer_repositories import StoredAccount

#: the ports our mail servers (Mailcow) offer: submission with STARTTLS, IMAP over TLS
SMTP_PORT = 587
IMAP_PORT = 993
#: how long a warmup we asked for may take to show before the plan asks again (Instantly's background job;
#: how soon it runs is unconfirmed)
WARMUP_GRACE = timedelta(minutes=30)


def _warming(row: StoredAccount | None) -> bool:
    """Whether we asked for this account's warmup within the grace."""
    started = row.warmup_started_at if row is not None else None
    return started is not None and utcnow() - started < WARMUP_GRACE


def password_fingerprint(address: str, password: str) -> str:
    """Tells a changed password without keeping it (SHA-256 of a generated 140-bit password, salted by address)."""
    return hashlib.sha256(f"{address}\0{password}".encode()).hexdigest()[:32]


class Listing:
    """A sequencer's accounts, read once per run and shared by every domain's step (by lower-case email)."""

    def __init__(self, provider: SequencerProvider) -> None:
        self.provider = provider
        self._lock = asyncio.Lock()
        self._accounts: dict[str, RemoteAccount] | None = None
        self._error: EmailInfraError | None = None

    async def accounts(self) -> dict[str, RemoteAccount]:
        """The listing (read on first use; its error again on every later use)."""
        async with self._lock:
            if self._accounts is None and self._error is None:
                try:
                    self._accounts = {a.email.lower(): a async for a in self.provider.accounts()}
                except EmailInfraError as exc:
                    self._error = exc
            if self._error is not None:
                raise self._error
            assert self._accounts is not None
            return self._accounts


@dataclass
class Detail:
    """What apply needs besides the changes: the platform's accounts, intents to settle, rows to record or drop."""

    remote: dict[str, RemoteAccount] = field(default_factory=dict)
    #: intent id → whether its change was made
    intents: dict[str, bool] = field(default_factory=dict)
    #: accounts there without a stored row: address → created by us (an interrupted create's intent says so)
    adopt: dict[str, bool] = field(default_factory=dict)
    #: stored rows of accounts no longer there, or no longer ours to track
    forget: list[str] = field(default_factory=list)


class SequencerAccountsStep(Step):
    """`sequencer.accounts:<d>@<s>`: the domain's mailboxes as accounts at sequencer `s`."""

    component = "sequencers"

    def __init__(
        self,
        ctx: ReconcileContext,
        domain: str,
        sequencer: str,
        listing: Listing | None,
        wanted: list[Wanted],
        *,
        resolved: ResolvedDomain | None = None,
        error: str = "",
        prune: bool = False,
    ) -> None:
        self.ctx, self.domain, self.sequencer, self.listing = ctx, domain, sequencer, listing
        self.wanted = {w.address.lower(): w for w in wanted}
        self.resolved, self.error, self.prune = resolved, error, prune
        self._passwords: dict[tuple[str, str], str] = {}
        self.key = f"sequencer.accounts:{domain}@{sequencer}"
        self.scope = intent_scope("sequencer.accounts", sequencer, domain)
        mailed = resolved is not None and resolved.server is not None and bool(resolved.server.mail_backend)
        self.depends_on = (f"mail.mailboxes:{domain}",) if mailed and wanted else ()

    def _payload(self, address: str, fields: list[str] | None = None) -> events.AccountPayload:
        return events.AccountPayload(
            domain=self.domain, address=address, sequencer=self.sequencer, fields=sorted(fields or [])
        )

    async def plan(self, upstream: Mapping[str, StepPlan]) -> StepPlan:
        """Read the listing, the stored rows and the vault's fingerprints; what to create, update or delete."""
        plan = self.new_plan()
        if self.error or self.listing is None:
            plan.error = f"{self.key}: {self.error or 'no such sequencer'}"
            return plan
        provider = self.listing.provider
        server = self.resolved.server if self.resolved is not None else None
        if self.wanted and (server is None or not server.mail_backend):
            plan.notes.append(
                f"{self.domain}: no mail server creates its mailboxes, so none is pushed to {self.sequencer}"
            )
            wanted: dict[str, Wanted] = {}
        else:
            wanted = self.wanted
        try:
            remote = await self.listing.accounts()
            stored = {
                row.address.lower(): row
                for row in await self.ctx.sequencer_accounts(self.domain)
                if row.sequencer == self.sequencer
            }
            vault = await self.ctx.secrets([password_key(w.address) for w in wanted.values()])
            pending = await self.ctx.intents(self.scope)
        except EmailInfraError as exc:
            plan.error = step_error(f"{self.domain} at {self.sequencer}", exc)
            return plan
        detail = Detail(remote={a: r for a in {*wanted, *stored} if (r := remote.get(a)) is not None})
        created = {str(e.payload.get("address", "")).lower() for e in pending if e.topic == events.ACCOUNT_CREATED.name}
        for address, want in sorted(wanted.items()):
            have = remote.get(address)
            if have is None:
                if not provider.can_create:
                    plan.notes.append(
                        f"{want.address}: {self.sequencer} ({provider.type}) cannot create accounts by API: upload "
                        f"`email-infra export --format {provider.type}` there"
                    )
                    continue
                new = {"settings": _settings_json(want), "smtp": f"{server.hostname if server else ''}:{SMTP_PORT}"}
                plan.changes.append(StepChange("create", f"account {want.address}", None, new))
                continue
            row = stored.get(address)
            if row is None:
                detail.adopt[address] = address in created
                if address not in created:
                    plan.notes.append(
                        f"{want.address} was already on {self.sequencer}: adopted (updated, never deleted)"
                    )
            differs = want.settings.differs(have.settings)
            if "warmup" in differs and want.settings.warmup and _warming(row):
                # asked for within the grace: the platform runs it in the background (Instantly's job)
                del differs["warmup"]
                plan.notes.append(f"{want.address}: warmup was started at {self.sequencer}; it shows once it runs")
            cannot = sorted(set(differs) & provider.unsupported)
            if cannot:
                plan.notes.append(
                    f"{want.address}: {self.sequencer}'s API cannot set {', '.join(cannot)} (set it there)"
                )
            settable = {k: v for k, v in differs.items() if k not in provider.unsupported}
            if settable:
                old = {k: v[0] for k, v in sorted(settable.items())}
                new_values = {k: list(v[1]) if isinstance(v[1], tuple) else v[1] for k, v in sorted(settable.items())}
                plan.changes.append(StepChange("update", f"account {want.address}", _plain(old), new_values))
            password = vault.get(password_key(want.address))
            known = row.password_fp if row is not None else None
            if password is not None and known is not None and password_fingerprint(address, password) != known:
                plan.changes.append(
                    StepChange("update", f"account {want.address} password", None, {"password": "changed in the vault"})
                )
                if provider.type == "instantly":
                    plan.notes.append(
                        f"{want.address}: Instantly takes a new password only by re-creating the account "
                        "(its history there restarts)"
                    )
        self._plan_removals(plan, detail, stored, remote, set(wanted))
        for event in pending:
            address = str(event.payload.get("address", "")).lower()
            have, asked = remote.get(address), wanted.get(address)
            # an update was made when the platform now holds what it wanted
            matches = have is None or asked is None or not asked.settings.differs(have.settings)
            made = intent_made(event, have is not None, deleted=events.ACCOUNT_DELETED, matches=matches)
            # no platform shows a password: an unconfirmed change of one is given again (the same value)
            detail.intents[event.id] = made and event.topic != events.ACCOUNT_PASSWORD_CHANGED.name
        plan.detail = detail
        plan.housekeeping = bool(detail.intents or detail.adopt or detail.forget)
        return plan

    def _plan_removals(
        self,
        plan: StepPlan,
        detail: Detail,
        stored: dict[str, StoredAccount],
        remote: Mapping[str, RemoteAccount],
        wanted: set[str],
    ) -> None:
        """Stored accounts no longer wanted: ours go with `prune` (within the deletion guard), others are forgotten."""
        where = f"is on {self.sequencer} but no longer wanted there"
        for address, row in sorted(stored.items()):
            if address in wanted:
                continue
            if address not in remote:
                detail.forget.append(address)
            elif not row.created_by_us:
                plan.notes.append(f"{address} {where}: it was there before us (left alone, no longer tracked)")
                detail.forget.append(address)
            elif self.prune:
                plan.changes.append(StepChange("delete", f"account {address}", {"remote_id": row.remote_id}, None))
            else:
                plan.notes.append(f"{address} {where} (left alone; --prune deletes it)")
        ours = sum(r.created_by_us for r in stored.values())
        problem = deletion_safety(
            self.domain, sum(c.action == "delete" for c in plan.changes), ours, f"accounts at {self.sequencer}"
        )
        plan.unsafe += [problem] if problem else []

    async def apply(self, plan: StepPlan, upstream: Mapping[str, Outputs]) -> Outputs:
        """Settle and record first, then each account on its own: one refused account fails alone."""
        assert self.listing is not None
        detail: Detail = plan.detail or Detail()
        provider = self.listing.provider
        await self._settle(detail)
        wanted_passwords = [password_key(self.wanted[a].address) for a in self._needing_login(plan)]
        self._passwords = await self.ctx.secrets(wanted_passwords) if wanted_passwords else {}
        problems: list[str] = []
        for change in plan.changes:
            subject = change.resource.removeprefix("account ")
            address = subject.removesuffix(" password").lower()
            try:
                if change.action == "create":
                    await self._create(provider, self.wanted[address])
                elif change.action == "delete":
                    await self._delete(provider, address, detail.remote[address])
                elif subject.endswith(" password"):
                    await self._password(provider, self.wanted[address], detail.remote[address])
                else:
                    intent = await intend(
                        self.ctx, self.scope, events.ACCOUNT_UPDATED, self._payload(address, list(change.new))
                    )
                    account = await provider.update(detail.remote[address], self.wanted[address].settings)
                    await self._record(account, intent)
            except EmailInfraError as exc:
                problems.append(step_error(address, exc))
                async with self.ctx.uow() as uow:
                    uow.emit(events.ACCOUNT_FAILED, self._payload(address), "sequencers")
                    await uow.commit()
        try:
            started = await provider.flush()
        except EmailInfraError as exc:
            problems.append(f"warmup not started (the next run starts it): {exc}")
        else:
            # another step's flush may have sent ours before their rows were stored (its stamp found none): ours
            # are stored by now, and a flush still under way stamps them itself when it ends
            sent = {email.lower() for email in provider.warmups_sent()}
            mine = {address for address in self.wanted if address in sent}
            async with self.ctx.uow() as uow:
                await uow.sequencer_accounts.warmup_started(self.sequencer, sorted({a.lower() for a in started} | mine))
                await uow.commit()
        if problems:
            raise ProviderError(
                f"{self.domain} at {self.sequencer}: {len(problems)} of {len(plan.changes)} account changes failed: "
                + "; ".join(problems),
                provider=self.sequencer,
            )
        return {"accounts": sorted(w.address for w in self.wanted.values())}

    async def _settle(self, detail: Detail) -> None:
        """An interrupted run's intents confirmed or dropped, accounts found there recorded, gone ones forgotten."""
        async with self.ctx.uow() as uow:
            pending = [e for e in await uow.intents.pending(self.scope) if e.id in detail.intents]
            done = [e for e in pending if detail.intents[e.id]]
            await uow.confirm(done)
            await uow.intents.remove(e.id for e in pending if not detail.intents[e.id])
            gone = {str(e.payload.get("address", "")).lower() for e in done if e.topic == events.ACCOUNT_DELETED.name}
            await uow.sequencer_accounts.forget(self.sequencer, sorted({*detail.forget, *gone}))
            vault = uow.secrets()
            for address, ours in sorted(detail.adopt.items()):
                account = detail.remote[address]
                password = await vault.get(*password_key(self.wanted[address].address))
                fp = password_fingerprint(address, password) if password is not None else None
                await uow.sequencer_accounts.record(
                    self.sequencer, address, self.domain, account.remote_id, created_by_us=ours, password_fp=fp
                )
                if not ours:
                    uow.emit(events.ACCOUNT_ADOPTED, self._payload(address), "sequencers")
            await uow.commit()

    def _needing_login(self, plan: StepPlan) -> list[str]:
        """The addresses whose change sends a password (creates, password updates)."""
        out = []
        for change in plan.changes:
            subject = change.resource.removeprefix("account ")
            if change.action == "create" or subject.endswith(" password"):
                out.append(subject.removesuffix(" password").lower())
        return out

    async def _login(self, want: Wanted) -> Login:
        """The account's logins: the vault's password (read once per apply) and the domain's mail server."""
        server = self.resolved.server if self.resolved is not None else None
        password = self._passwords.get(password_key(want.address))
        if password is None or server is None:
            raise ProviderError(f"{want.address}: its password is not in the vault (its mailbox is not created yet)")
        first, last = (want.person.first_name, want.person.last_name) if want.person else ("", "")
        return Login(
            want.address, first, last, want.address, password, server.hostname, SMTP_PORT, server.hostname, IMAP_PORT
        )

    async def _create(self, provider: SequencerProvider, want: Wanted) -> None:
        login = await self._login(want)
        intent = await intend(self.ctx, self.scope, events.ACCOUNT_CREATED, self._payload(login.email))
        try:
            account = await provider.create(login, want.settings, absent=True)
        except AccountExistsError:
            # made by our own earlier attempt whose answer was lost (EmailBison's 422 "already taken")
            found = await provider.find(login.email)
            if found is None:
                raise
            account = found
        await self._record(account, intent, created_by_us=True, password=login.password)

    async def _password(self, provider: SequencerProvider, want: Wanted, have: RemoteAccount) -> None:
        login = await self._login(want)
        intent = await intend(self.ctx, self.scope, events.ACCOUNT_PASSWORD_CHANGED, self._payload(login.email))
        account = await provider.change_password(have, login)
        await self._record(account, intent, password=login.password)

    async def _delete(self, provider: SequencerProvider, address: str, have: RemoteAccount) -> None:
        intent = await intend(self.ctx, self.scope, events.ACCOUNT_DELETED, self._payload(address))
        await provider.delete(have)
        async with self.ctx.uow() as uow:
            await uow.sequencer_accounts.forget(self.sequencer, [address])
            await uow.confirm([intent])
            await uow.commit()

    async def _record(
        self, account: RemoteAccount, intent: Event, *, created_by_us: bool | None = None, password: str | None = None
    ) -> None:
        """The account's row and its event, in one transaction."""
        address = account.email.lower()
        fp = password_fingerprint(address, password) if password is not None else None
        async with self.ctx.uow() as uow:
            await uow.sequencer_accounts.record(
                self.sequencer, address, self.domain, account.remote_id, created_by_us=created_by_us, password_fp=fp
            )
            await uow.confirm([intent])
            await uow.commit()


def _plain(values: Mapping[str, Any]) -> dict[str, Any]:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in values.items()}


def _settings_json(want: Wanted) -> dict[str, Any]:
    """The declared settings of an account (None: the platform's own)."""
    values = {k: getattr(want.settings, k) for k in want.settings.__dataclass_fields__}
    return _plain({k: v for k, v in values.items() if v is not None and v != ()})


__all__ = ["IMAP_PORT", "SMTP_PORT", "Listing", "SequencerAccountsStep", "password_fingerprint"]
