# Everything runs in a local virtual environment that the targets create and reuse.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# the suite spreads over the cores (pytest-xdist); PYTEST_ARGS= runs it in one process
PYTEST_ARGS ?= -n 4

.PHONY: install test lint docs demo bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test,bench,chart,docs]'
	touch $(STAMP)

install: $(STAMP)

test: $(STAMP)
	$(BIN)/pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check worker tests bench scripts
	$(BIN)/mypy --strict worker scripts
	$(BIN)/lint-imports --no-cache
	$(MAKE) docs

# The manual (docs/): a broken link or anchor fails the build.
docs: $(STAMP)
	$(BIN)/mkdocs build --strict --quiet

demo: $(STAMP)
	$(BIN)/python -m worker demo

bench: $(STAMP)
	$(BIN)/python -m bench $(if $(QUICK),--quick,)

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
