# Everything a newcomer needs: `make preview` and `make test`. Both set up .venv on first use.
PYTHON ?= python3
VENV   ?= .venv
PY      = $(VENV)/bin/python
STACK  ?= dev
STAMP   = $(VENV)/.installed
# Python writes the bytecode of the project's modules and pytest's rewritten tests to __pycache__ (ignored by
# git) and reuses it, unless PYTHONDONTWRITEBYTECODE is set, as on some machines: then every process (each
# test worker, the emulated account, each whole-process test) compiles them all again, 4 s a worker.
unexport PYTHONDONTWRITEBYTECODE

# The packages mypy checks: those of the layout that exist so far.
TYPED   = $(wildcard components offline policy verify)

.PHONY: install preview test test-fast pytest lint typecheck format docs bench clean

install: $(STAMP)

# Re-installs whenever a requirements file changes.
$(STAMP): requirements.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

preview: $(STAMP)
	$(PY) -m offline preview --stack $(STACK)

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

# A cold run analyses pulumi_aws's stubs (about 1.5 min, 3 GB); .mypy_cache makes later runs seconds.
typecheck: $(STAMP)
	$(PY) -m mypy $(TYPED)

format: $(STAMP)
	$(PY) -m ruff format .
	$(PY) -m ruff check --fix .

test: lint typecheck pytest

# The suite on both cores (pyproject.toml); CI runs lint, typecheck and pytest as steps of their own.
pytest: $(STAMP)
	$(PY) -m pytest

# The inner loop: everything but whole processes, programs run with a changed config, and verify's moto
# accounts (the tests marked slow or account), on both cores as the whole suite.
test-fast: $(STAMP)
	$(PY) -m pytest -m "not slow and not account"

# docs/config.md from the config contract's docstrings, and the prod diagram in docs/architecture.md (tests
# fail when either is stale).
docs: $(STAMP)
	$(PY) -m offline docs

bench: $(STAMP)
	$(PY) -m offline.bench

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache .hypothesis
