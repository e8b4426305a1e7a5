# The two commands of the README: `make run` (the main job: apply the quickstart, then serve the
# dashboard and API until Ctrl-C) and `make test` (the whole suite).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
INVENTORY ?= examples/quickstart.yaml
HOST ?= 127.0.0.1
PORT ?= 8000
# pytest-xdist workers of `make test`: 3 on 2 cores beat 2, since tests wait on servers and
# subprocesses (docs/testing.md); 0 runs the suite in one process
TEST_WORKERS ?= 3

.PHONY: run test lint audit os-deps install bench clean

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/email-infra validate -f $(INVENTORY)
	$(BIN)/email-infra plan -f $(INVENTORY)
	$(BIN)/email-infra apply -f $(INVENTORY) --yes
	$(BIN)/email-infra serve --host $(HOST) --port $(PORT) --login-key quickstart

os-deps:
	./scripts/install-os-deps

# Coverage of the whole suite (CLI subprocesses included) and the 25 slowest tests are printed;
# CI adds its floor to PYTEST_ARGS. How the suite is organised: docs/testing.md.
test: $(STAMP) os-deps
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadgroup --cov=email_infrastructure --cov-report=term \
		--durations=25 $(PYTEST_ARGS)

# Issue 22's benchmarks, each against its peer in the same run (not part of `make test`; the DNS ones bind
# 127.0.0.2:53 and wrk comes from Debian: run as root). The others are run one by one, as docs/benchmarks.md says.
bench: $(STAMP)
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[bench]'
	$(BIN)/python bench/api_wrk.py
	$(BIN)/python bench/api_writes.py
	$(BIN)/python bench/domain_read.py
	$(BIN)/python bench/audit_vs_checkdmarc.py --domains 1000 --runs 3
	$(BIN)/python bench/blacklist_vs_pydnsbl.py --ips 500 --runs 5
	$(BIN)/python bench/wire_vs_dnspython.py --domains 1000 --runs 5
	$(BIN)/python bench/plan_scale.py --process --domains 10000 --runs 3
	$(BIN)/python bench/cli_start.py --runs 20 --address 127.0.0.4
	$(BIN)/python bench/dmarc_vs_parsedmarc.py --rounds 3
	$(BIN)/python bench/workers_scale.py --domains 10000 --workers 1 --batch 50 --dns-cache local --pairs 3 --address 127.0.0.3

audit: $(STAMP)
	$(BIN)/python .ci/audit.py

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy

clean:
	rm -rf $(VENV) data .pytest_cache .mypy_cache .ruff_cache .coverage .coverage.*
