"""The `mailbox` monitoring family: logins of the stored mailboxes, with history and alerts on change."""

from __future__ import annotations

from email_infrastructure.core.events import Event
from email_infrastructure.core.secret_names import password_key
from email_infrastructure.services.app import App
from email_infrastructure.services.monitoring import MonitorRequest, MonitorService, check_states
from tests.fixtures.mailserver import MailServer
from tests.services.conftest import WriteInventory
from tests.services.test_mailbox_check import ANN, desired, options


async def test_the_mailbox_family_records_logins_and_alerts_when_one_starts_failing(
    app: App, write_inventory: WriteInventory, mailserver: MailServer, events: list[Event]
) -> None:
    mailserver.set_user(ANN, "Ann-pw-2.monitored")
    await desired(app, write_inventory, {ANN: "Ann-pw-2.monitored"})
    service = await MonitorService.create(app, MonitorRequest(mailbox_options=options(mailserver)))
    try:
        (first,) = await service.run_once(["mailbox"])
        assert first.report.status.value == "ok"
        assert {s.subject: s.status for s in await check_states(app) if s.check == "mailbox"} == {ANN: "ok"}

        async with app.uow() as uow:  # the vault and the server disagree from now on
            await uow.secrets().put(*password_key(ANN), "changed-on-the-server")
            await uow.commit()
        (second,) = await service.run_once(["mailbox"])
    finally:
        await service.close()
    assert second.report.status.value == "error"
    assert [(t.subject, t.old, t.new) for t in second.transitions] == [(ANN, "ok", "error")]
    failed = [e for e in events if e.topic == "monitoring.check.failed"]
    assert [e.payload["subject"] for e in failed] == [ANN]
    assert "refused the login" in failed[0].payload["summary"]
    assert "changed-on-the-server" not in repr([e.payload for e in events])
