"""`/docs` works offline: Swagger UI's script, stylesheet and icon come from this server, not a CDN."""

from __future__ import annotations

import re
from html.parser import HTMLParser

from tests.api.conftest import Api


class _Links(HTMLParser):
    """Every `src` and `href` of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.urls += [value for name, value in attrs if name in {"src", "href"} and value]


EXPECTED_TYPES = {".js": "javascript", ".css": "text/css", ".png": "image/png", ".json": "application/json"}


async def test_docs_page_loads_only_local_assets(api: Api) -> None:
    page = await api.client.get("/docs")
    assert page.status_code == 200
    html = page.text
    assert not re.search(r"(https?:)?//[a-z0-9]", html, re.IGNORECASE), "the page names another host"
    links = _Links()
    links.feed(html)
    spec = re.search(r"url: '([^']+)'", html)
    assert spec is not None
    urls = [*links.urls, spec.group(1)]
    suffixes = {url[url.rfind(".") :] for url in urls}
    assert {".js", ".css", ".json"} <= suffixes, urls
    for url in urls:
        assert url.startswith("/"), url
        response = await api.client.get(url)
        assert response.status_code == 200, url
        kind = EXPECTED_TYPES[url[url.rfind(".") :]]
        assert kind in response.headers["content-type"], (url, response.headers["content-type"])
        assert len(response.content) > 100, url
    script = await api.client.get(next(u for u in urls if u.endswith(".js")))
    assert b"SwaggerUIBundle" in script.content


async def test_docs_assets_are_not_in_the_schema(api: Api) -> None:
    schema = (await api.client.get("/openapi.json")).json()
    assert not [path for path in schema["paths"] if path.startswith("/docs")]
