# storywatch: `make demo` replays seeds/ end to end; `make test` runs the whole test suite.
# Both create .venv and install on first use. torch is pinned in the same pip call so pip takes
# the local CPU wheel instead of pulling CUDA packages.

PYTHON ?= python3
VENV ?= .venv
BIN = $(VENV)/bin
STAMP = $(VENV)/.installed-stamp

.PHONY: demo test lint bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check "torch==2.13.0" -e ".[dev]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/storywatch replay seeds/

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/pytest -q

lint: $(STAMP)
	$(BIN)/ruff check .

bench: $(STAMP)
	$(BIN)/python benchmarks/ledger_eval.py
	$(BIN)/python benchmarks/clustering.py

clean:
	rm -rf $(VENV) .storywatch .pytest_cache .ruff_cache *.egg-info
