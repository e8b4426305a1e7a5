"""The bounded loopback load test of `GET /api/v1/domains` with 10,000 domains stored (the benchmark's
own code, fewer requests): every answer a success, on SQLite and PostgreSQL. Timings are reported by
`bench/api_load.py` into docs/benchmarks.md, never asserted here."""

from __future__ import annotations

import argparse

import pytest
from bench.api_load import run_backend


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_ten_thousand_domains_under_a_bounded_load_answer_without_errors(
    backend: str, request: pytest.FixtureRequest
) -> None:
    url = str(request.getfixturevalue("postgres_url")) if backend == "postgresql" else None
    result = run_backend(backend, url, argparse.Namespace(domains=10_000, requests=400, concurrency=8))
    assert result["domains"] == 10_000
    assert result["ours"]["requests"] == 400 and result["ours"]["errors"] == 0
    assert result["bare"]["errors"] == 0
