# The two commands of the README: `make run` and `make test`. Everything else is set up by them.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: run test lint bench-ingest bench-requests chaos clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check --upgrade pip
	$(PY) -m pip install -q --disable-pip-version-check -e '.[dev]'
	touch $@

## Start the gateway on a local Kafka broker with the embedded SQLite store.
run: $(STAMP)
	$(PY) -m gateway run

## Install what the tests need (venv, Kafka jars, PostgreSQL) and run the whole suite.
test: $(STAMP)
	bash deploy/kafka/kafka.sh fetch
	bash deploy/postgres/pg.sh ensure
	bash deploy/browser/chromium.sh ensure >/dev/null
	$(PY) -m ruff check gateway consumers producers console tests bench
	$(PY) -m ruff format --check gateway consumers producers console tests bench
	$(PY) -m mypy gateway consumers producers console
	$(PY) -m pytest

lint: $(STAMP)
	$(PY) -m ruff check gateway consumers producers console tests bench
	$(PY) -m ruff format --check gateway consumers producers console tests bench
	$(PY) -m mypy gateway consumers producers console

## Fault suite at full size (CHAOS_EVENTS per scenario, default 100,000) and its results table.
chaos: $(STAMP)
	bash deploy/kafka/kafka.sh fetch
	bash deploy/postgres/pg.sh ensure
	rm -f var/chaos-results.jsonl
	CHAOS_EVENTS=$${CHAOS_EVENTS:-100000} $(PY) -m pytest -m reliability tests/reliability tests/hostile; \
	status=$$?; $(PY) -m tests.reliability.report || status=1; exit $$status

bench-ingest: $(STAMP)
	$(PY) bench/ingest.py

bench-requests: $(STAMP)
	$(PY) bench/requests.py

clean:
	-bash deploy/kafka/kafka.sh stop var/kafka
	rm -rf var
