# ODCM: `make demo` runs the whole product; `make test` runs every check CI runs.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# Locked requirements only: every file is pinned with hashes (`make lock`), and complete, so
# pip installs exactly those files and checks every download against its hash.
PIP := $(PY) -m pip install --quiet --disable-pip-version-check --require-hashes --no-deps
# `make lock` resolves the .in files against PyPI, ignoring this machine's pip configuration
# (local mirrors and wheel folders), so the hashes are those of the public files.
PYPI ?= https://pypi.org/simple
PIP_COMPILE := env -u PIP_FIND_LINKS -u PIP_INDEX_URL -u PIP_EXTRA_INDEX_URL PIP_CONFIG_FILE=/dev/null \
	$(VENV)/bin/pip-compile --quiet --generate-hashes --strip-extras --no-emit-index-url \
	--no-emit-find-links --index-url $(PYPI)
TEST_ENV := DJANGO_SETTINGS_MODULE=tests.settings

.PHONY: demo demo-password demo-export screenshots test debian-packages lock lint typecheck migrations-check pytest e2e bench clean help

help:
	@echo "make demo   - install what is needed and run ODCM with simulated Octopus instances"
	@echo "make test   - lint, type-check, migrations check and the test suite (PostgreSQL, Redis)"
	@echo "make lock   - re-resolve requirements*.in into the hash-locked requirements*.txt"

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

screenshots: $(VENV)/.dev
	$(PY) docs/screenshots.py

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

# Tests run in PYTEST_WORKERS processes (pytest-xdist): most of a test's time is spent waiting
# for the servers and workers it starts, so two share a 2-core machine well. 0 runs them in one.
PYTEST_WORKERS ?= 2
pytest:
	$(VENV)/bin/pytest -n $(PYTEST_WORKERS) --durations=25

# After editing a requirements*.in file: pins and hashes for every file, runtime first (the
# others are constrained to its versions). Existing pins are kept unless an .in file needs
# otherwise; add --upgrade by hand (make lock PIP_COMPILE_ARGS=--upgrade) to move them.
lock: $(VENV)/.dev
	$(PIP_COMPILE) $(PIP_COMPILE_ARGS) -o requirements.txt requirements.in
	$(PIP_COMPILE) $(PIP_COMPILE_ARGS) -o requirements-ldap.txt requirements-ldap.in
	$(PIP_COMPILE) $(PIP_COMPILE_ARGS) -o requirements-dev.txt requirements-dev.in

bench: $(VENV)/.dev
	@for b in bench/[!_]*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

clean:
	rm -rf var/ .mypy_cache .ruff_cache .pytest_cache
