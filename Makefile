# Everything a newcomer needs: `make preview` and `make test`. Both set up .venv on first use.
PYTHON ?= python3
VENV   ?= .venv
PY      = $(VENV)/bin/python
STACK  ?= dev
STAMP   = $(VENV)/.installed

.PHONY: install preview test lint format bench clean

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

format: $(STAMP)
	$(PY) -m ruff format .
	$(PY) -m ruff check --fix .

test: lint
	$(PY) -m pytest

bench: $(STAMP)
	$(PY) -m offline.bench

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis
