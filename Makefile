# ODCM: `make demo` runs the whole product; `make test` runs every check CI runs.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip install --quiet --disable-pip-version-check
TEST_ENV := DJANGO_SETTINGS_MODULE=tests.settings

.PHONY: demo demo-password demo-export test debian-packages lint typecheck migrations-check pytest e2e bench clean help

help:
	@echo "make demo   - install what is needed and run ODCM with simulated Octopus instances"
	@echo "make test   - lint, type-check, migrations check and the test suite (PostgreSQL, Redis)"

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.runtime: $(VENV)/bin/python requirements.txt
	$(PIP) -r requirements.txt
	@touch $@

$(VENV)/.dev: $(VENV)/.runtime requirements-dev.txt requirements-ldap.txt | debian-packages
	$(PIP) -r requirements-dev.txt -r requirements-ldap.txt
	@touch $@

demo: $(VENV)/.runtime
	$(PY) -m odcm.demo

demo-password: $(VENV)/.runtime
	@$(PY) -m odcm.demo --reset-admin-password

demo-export: $(VENV)/.runtime
	@$(PY) -m odcm.demo --manage odcm_export

# The Debian packages the tests need (chromium, LDAP libraries and server, Node.js): installed
# when running as root with apt, else one line naming the command to run.
debian-packages:
	@PYTHON=$(PYTHON) .ci/debian-packages

test: debian-packages $(VENV)/.dev
	@$(PY) -m tests.check_services
	$(MAKE) --no-print-directory lint typecheck migrations-check pytest

lint:
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck:
	$(VENV)/bin/mypy .

migrations-check:
	ODCM_DEBUG=true ODCM_VAR_DIR=var/migrations-check $(PY) manage.py makemigrations --check --dry-run

pytest:
	$(VENV)/bin/pytest

bench: $(VENV)/.dev
	@for b in bench/[!_]*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

clean:
	rm -rf var/ .mypy_cache .ruff_cache .pytest_cache
