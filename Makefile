# Thin front-end to the project's tools.  Every target uses the virtualenv in
# .venv, created and filled on first use (and refreshed when setup.py,
# pyproject.toml or requirements/ change).  `make help` lists the targets.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Extra arguments for pytest, e.g. `make test ARGS="-k hmac -x"`.
ARGS ?=

SPHINXOPTS ?= -W -n --keep-going
DOCS_BUILD := docs/_build

INSTALL_STAMP := $(VENV)/.installed
DOCS_STAMP := $(VENV)/.docs-installed
REQUIREMENTS := $(wildcard requirements/*.txt requirements/extras/*.txt)

export PIP_DISABLE_PIP_VERSION_CHECK := 1

.DEFAULT_GOAL := help
.PHONY: help install lint fmt typecheck test test-postgres matrix cov integration docs openapi check clean demo demo-serve demo-celery demo-tasks bench

help: ## List the targets.
	@echo "Usage: make <target>"
	@echo
	@awk 'BEGIN {FS = ":.*## "} /^[a-z-]+:.*## / {printf "  %-14s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(INSTALL_STAMP): $(BIN)/python setup.py pyproject.toml $(REQUIREMENTS)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@touch $@

install: $(INSTALL_STAMP) ## Create .venv if missing and install thorn with its test extras.

# The example blog (examples/blog/) end to end on 127.0.0.1: a fresh SQLite
# database, the site, a subscriber that subscribes through /hooks/ with a
# token and verifies every signature; everything it starts is stopped.
demo: $(INSTALL_STAMP) ## Run the example blog end to end: subscribe, save articles, verify the signed webhooks.
	$(BIN)/python examples/blog/demo.py

demo-serve: $(INSTALL_STAMP) ## The demo, then keep the blog and its webhooks portal running until Ctrl-C.
	$(BIN)/python examples/blog/demo.py --serve

demo-celery: $(INSTALL_STAMP) ## The same demo through Redis and a Celery worker (THORN_DISPATCHER = "celery").
	$(BIN)/python examples/blog/demo.py --celery

demo-tasks: $(INSTALL_STAMP) ## The same demo through Django's task framework and a db_worker (THORN_DISPATCHER = "tasks").
	$(BIN)/python examples/blog/demo.py --tasks

bench: $(INSTALL_STAMP) ## Print the delivery engine's figures against their targets (bench/engine.py, minutes).
	$(BIN)/python -m bench.engine $(ARGS)

lint: install ## Lint: ruff, ruff format --check, mypy.
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(MAKE) --no-print-directory typecheck

fmt: install ## Format the code and sort imports.
	$(BIN)/ruff check --fix --select I .
	$(BIN)/ruff format .

typecheck: install ## Type-check thorn/ (strict) and the typing examples in t/typing/.
	$(BIN)/mypy thorn $(wildcard t/typing)

# pytest's own exit status is the target's: a failure (1), an interrupted run
# (2) or "no tests collected" (5) all fail the target; nothing masks them.
# The whole suite runs on SQLite, then the tasks, live stream and SQLite
# locking tests on SQLite in a file, which their db_worker and uvicorn
# processes (and threads) share; then the Django database tests run
# again on a PostgreSQL that the test session starts and stops itself
# (t/postgres.py), with the Celery and tasks tests: their workers share that
# database (Redis and workers are started and stopped by the tests,
# t/services.py).
POSTGRES_SUITES := t/integration/django t/integration/celery t/integration/tasks t/integration/stream
# What runs again on SQLite in a file: other processes and threads share it.
SQLITE_FILE_SUITES := t/integration/tasks t/integration/stream \
	t/integration/django/test_sqlite_writers.py t/integration/django/test_api_races.py

test: lint docs ## Install, lint, build the docs, then run the whole test suite (what CI runs).
	$(BIN)/pytest $(ARGS)
	THORN_TEST_DATABASE=sqlite-file $(BIN)/pytest $(SQLITE_FILE_SUITES) $(ARGS)
	THORN_TEST_DATABASE=postgresql $(BIN)/pytest $(POSTGRES_SUITES) $(ARGS)

test-postgres: install ## Run the Django database, Celery and tasks tests on a throwaway PostgreSQL.
	THORN_TEST_DATABASE=postgresql $(BIN)/pytest $(POSTGRES_SUITES) $(ARGS)

# The support matrix, defined in tox.ini: Django 4.2 on Python 3.10, 5.2 on
# 3.11, 6.0 on 3.12 and 3.13, each running the Django and REST suites in a
# virtualenv of its own (.tox/).  The interpreters are found on PATH, pyenv's
# versions (~/.pyenv/versions/3.1x.y/bin) first; a missing one fails the
# target instead of being skipped.
MATRIX := py310-django42,py311-django52,py312-django60,py313-django60
PYENV_BINS := $(wildcard $(HOME)/.pyenv/versions/3.1[0-9]*/bin)
empty :=
space := $(empty) $(empty)
MATRIX_PATH := $(subst $(space),:,$(strip $(PYENV_BINS) $(PATH)))

matrix: install ## Run the Django and REST suites on every supported Python and Django (tox).
	PATH="$(MATRIX_PATH)" $(BIN)/tox run -e $(MATRIX) --skip-missing-interpreters false $(if $(ARGS),-- $(ARGS))

cov: install ## Run the whole suite under coverage (branch, combined, fail_under from pyproject.toml).
	$(BIN)/coverage erase
	@status=0; \
	$(BIN)/coverage run -m pytest $(ARGS) || status=$$?; \
	$(BIN)/coverage combine --quiet || { [ $$status -ne 0 ] || status=1; }; \
	$(BIN)/coverage report || { [ $$status -ne 0 ] || status=2; }; \
	exit $$status

integration: install ## Run only the tests that need real services (Redis, Celery, PostgreSQL).
	$(BIN)/pytest -m integration $(ARGS)

$(DOCS_STAMP): $(INSTALL_STAMP) requirements/docs.txt
	$(BIN)/python -m pip install --quiet -r requirements/docs.txt
	@touch $@

docs: $(DOCS_STAMP) ## Build the HTML docs and run their doctests (warnings are errors).
	$(BIN)/sphinx-build $(SPHINXOPTS) -b html docs $(DOCS_BUILD)/html
	$(BIN)/sphinx-build $(SPHINXOPTS) -b doctest docs $(DOCS_BUILD)/doctest

# The shipped OpenAPI schema of the /hooks/ API, generated with drf-spectacular
# under Django's and DRF's default settings (DJANGO_SETTINGS_MODULE unset);
# t/integration/django/test_api_schema.py fails when it is out of date.
openapi: install ## Regenerate the shipped OpenAPI schema, thorn/django/rest_framework/openapi.json.
	env -u DJANGO_SETTINGS_MODULE $(BIN)/python -m thorn.django.rest_framework.schema \
		--output thorn/django/rest_framework/openapi.json

check: lint ## Before every commit: lint, then the unit tests.
	$(BIN)/pytest t/unit $(ARGS)

clean: ## Remove build, test and cache artefacts (keeps .venv; rm -rf .venv to reset it).
	rm -rf build dist *.egg-info $(DOCS_BUILD) htmlcov .coverage .coverage.* coverage.xml
	rm -rf .pytest_cache .mypy_cache .ruff_cache .hypothesis
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -exec rm -rf {} +
