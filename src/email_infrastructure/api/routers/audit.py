"""`POST /api/v1/audit`: an ad-hoc audit of any domain's live DNS (services/audit.py); read scope, rate limited."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from email_infrastructure.api.deps import AppDep, ReadCreateKey
from email_infrastructure.api.schemas import AuditIn, Envelope, ok

router = APIRouter(tags=["audit"])


@router.post("/audit", response_model=Envelope[dict[str, Any]])
async def audit(app: AppDep, key: ReadCreateKey, body: AuditIn) -> Envelope[dict[str, Any]]:
    """Audit domains' SPF, DKIM, DMARC, MX and more, like `email-infra audit` and the monitor.

    Resolvers: the stored `monitoring.nameservers`, else the server's EMAIL_INFRA_NAMESERVERS; a
    client cannot make the server send queries elsewhere. A domain of the desired state is also
    compared with its desired records (drift).
    """
    from email_infrastructure.services.audit import AuditRequest, audit_domains, check_names, domain_names

    request = AuditRequest(domains=domain_names(body.domains), selectors=list(body.selectors))
    if body.checks:
        request.checks = check_names(set(body.checks))
    report = await audit_domains(app, request)
    return ok(report.to_json())
