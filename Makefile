# Sampark: `make demo` and `make test` are all a newcomer needs (see README).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint sandbox messages bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)  ## set up, then play the scripted scenario through the Bot API emulator
	$(BIN)/sampark demo

test: $(STAMP)  ## set up, then run linters and the whole test suite
	$(BIN)/ruff check bot tests bench tools
	$(BIN)/ruff format --check bot tests bench tools
	$(BIN)/lint-imports
	$(BIN)/mypy
	$(BIN)/python -m pytest

sandbox: $(STAMP)  ## emulator + bot on localhost for trying things out
	$(BIN)/sampark sandbox

messages: $(STAMP)  ## re-extract strings and merge them into every catalog (docs/translating.md)
	flock locales/.lock $(BIN)/pybabel extract -k _ -k N_ -k ngettext:1,2 --no-default-keywords --no-location \
	  --sort-output --project=Sampark -o locales/sampark.pot bot
	flock locales/.lock $(BIN)/pybabel update --no-fuzzy-matching --ignore-obsolete --no-wrap -d locales -D sampark -i locales/sampark.pot

bench: $(STAMP)  ## imaging benchmark table
	$(BIN)/python -m bench.bench_render

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
