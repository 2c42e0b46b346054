# Two commands for a newcomer: `make demo` and `make test`. Both create .venv on first use;
# `make demo` installs only the cli extra, the other targets the dev extra (tests and tools).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
EXTRAS ?= dev
STAMP := $(VENV)/.installed-$(EXTRAS)

.PHONY: venv test lint format demo bench profile soak clean

venv: $(STAMP)

$(VENV)/.installed-%: pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[$*]"
	@touch $@

demo: $(VENV)/.installed-cli
	$(BIN)/ntrvsta demo

test: $(STAMP)
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	$(BIN)/python -m benchmarks

profile: $(STAMP)
	$(BIN)/python -m benchmarks.profile $(or $(WHAT),fanout)

soak: $(STAMP)
	NTRVSTA_SOAK=long $(BIN)/python -m pytest -q -s tests/test_soak.py

lint: $(STAMP)
	$(BIN)/python -m mypy
	$(BIN)/python -m ruff check .
	$(BIN)/python -m ruff format --check .

format: $(STAMP)
	$(BIN)/python -m ruff check --fix .
	$(BIN)/python -m ruff format .

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis
