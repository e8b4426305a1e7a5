"""/health, /ready (database answers, schema current) and /metrics."""

from __future__ import annotations

import httpx

from email_infrastructure.api.app import create_app
from email_infrastructure.core.settings import Settings
from email_infrastructure.services.app import App
from email_infrastructure.services.monitoring import record_results
from tests.api.conftest import Api


async def test_health_ready_and_metrics(api: Api) -> None:
    assert (await api.client.get("/health")).json() == {"success": True, "data": {"status": "ok"}}
    ready = await api.client.get("/ready")
    assert ready.status_code == 200 and "revision" in ready.json()["data"]["detail"]
    assert (await api.client.get("/metrics")).status_code == 401  # domain names are not for everyone
    await record_results(api.app, [("acme.test", "spf", "error", {}, "no SPF")])
    metrics = await api.client.get("/metrics", headers=api.auth())
    assert metrics.status_code == 200 and metrics.headers["content-type"].startswith("text/plain")
    assert 'email_infra_check_state{check="spf",state="error",subject="acme.test"} 1.0' in metrics.text
    assert metrics.headers["ratelimit-limit"] == "60"


async def test_ready_is_503_on_a_database_without_the_schema(settings: Settings, postgres_url: str) -> None:
    app = App(settings.model_copy(update={"database_url": postgres_url}))  # PostgreSQL is never migrated implicitly
    api = create_app(app)
    transport = httpx.ASGITransport(app=api)
    async with api.router.lifespan_context(api), httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        assert (await client.get("/health")).status_code == 200
        ready = await client.get("/ready")
        assert ready.status_code == 503, ready.text
        assert ready.json()["error"]["code"] == "storage_unavailable"
        assert "db upgrade" in ready.json()["error"]["message"]
    await app.close()
