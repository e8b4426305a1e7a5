"""The bounded loopback load test of `GET /api/v1/domains` (the benchmark's own code on a small fleet):
every answer a success, on SQLite and PostgreSQL. The 10,000-domain run and its timings are
`bench/api_load.py` (docs/benchmarks.md), never asserted here."""

from __future__ import annotations

import argparse

import pytest
from bench.api_load import run_backend


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_fleet_under_a_bounded_load_answers_without_errors(backend: str, request: pytest.FixtureRequest) -> None:
    url = str(request.getfixturevalue("postgres_url")) if backend == "postgresql" else None
    result = run_backend(backend, url, argparse.Namespace(domains=200, requests=100, concurrency=8))
    assert result["domains"] == 200
    assert result["ours"]["requests"] == 100 and result["ours"]["errors"] == 0
    assert result["bare"]["errors"] == 0
