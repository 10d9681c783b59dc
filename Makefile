# Heard: `make run` runs the app with a demo business; `make test` runs every test.
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp
PYTHON ?= $(shell command -v python3.13 2>/dev/null || command -v python3)

.PHONY: install messages run test lint format lock bench clean

$(PY):
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 13) else "Heard needs Python 3.13; set PYTHON=/path/to/python3.13")'
	$(PYTHON) -m venv $(VENV)

$(STAMP): $(PY) requirements.lock requirements-dev.lock pyproject.toml
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.lock
	@touch $(STAMP)

install: $(STAMP) messages

# The customers' languages (locale/*/LC_MESSAGES/django.po) compiled to .mo in pure Python by
# Babel, so no system gettext is needed; the .mo files are not committed.
messages: $(STAMP)
	@$(VENV)/bin/pybabel -q compile -d locale -D django

run: install
	@bin/run

test: install
	@bin/test

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: install
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

# Re-pin after changing the ranges in pyproject.toml: requirements.lock is what production
# installs (the Dockerfile), requirements-dev.lock adds the test and lint tools.
lock: $(PY)
	rm -rf var/lockenv && $(PYTHON) -m venv var/lockenv
	var/lockenv/bin/pip install --quiet --upgrade pip
	var/lockenv/bin/pip install --quiet . && var/lockenv/bin/pip uninstall --yes --quiet heard
	var/lockenv/bin/pip freeze > requirements.lock
	var/lockenv/bin/pip install --quiet ".[dev]" && var/lockenv/bin/pip uninstall --yes --quiet heard
	var/lockenv/bin/pip freeze > requirements-dev.lock

bench: install
	@for script in bench/*.py; do echo "== $$script"; $(PY) $$script || exit 1; done

# The fault rig (chaos/run.py): real web, worker and beat against a throwaway Redis, a database
# of its own and an SMTP sink; kills, outages and a hostile-body fuzz. Prints one table.
.PHONY: chaos chaos-fast
chaos: install
	$(PY) chaos/run.py

chaos-fast: install
	$(PY) chaos/run.py --fast

clean:
	rm -rf $(VENV) var staticfiles .pytest_cache .ruff_cache
