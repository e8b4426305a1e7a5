"""`GET /api/v1/sequencers/accounts`: what each sequencer holds of our mailboxes (services/sequencer_accounts.py).

Read scope, like the mailbox routes that show no credential: nothing here reads the vault, and the
platforms' answers are reduced to health and settings before they leave the service.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from email_infrastructure.api.deps import AppDep, ReadKey
from email_infrastructure.api.schemas import Envelope, SequencerAccounts, ok

router = APIRouter(prefix="/sequencers", tags=["sequencers"])


@router.get("/accounts", response_model=Envelope[SequencerAccounts])
async def sequencer_accounts(
    app: AppDep,
    key: ReadKey,
    sequencer: Annotated[str | None, Query(max_length=64, description="only this sequencer")] = None,
    domain: Annotated[list[str] | None, Query(max_length=100, description="only these domains")] = None,
) -> Envelope[SequencerAccounts]:
    """Each sequencer's accounts of our mailboxes: present (health, differing settings), missing or unknown."""
    from email_infrastructure.services.sequencer_accounts import accounts_view

    view = await accounts_view(app, sequencer=sequencer, domains=domain or ())
    return ok(
        SequencerAccounts.model_validate(
            {"sequencers": [s.to_json() for s in view.sequencers], "accounts": [r.to_json() for r in view.rows]}
        )
    )
