# Everything runs in a local virtual environment that the targets create and reuse.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# the suite spreads over the cores (pytest-xdist); PYTEST_ARGS= runs it in one process
PYTEST_ARGS ?= -n 4

# The lock files (requirements/): every dependency pinned with its hashes. `make install`,
# CI and the image install from them, then the package itself with --no-deps: nothing is
# resolved anew. `make lock` re-resolves them from pyproject.toml's ranges (newest allowed).
LOCK_DEV     := requirements/dev.txt
LOCK_RUNTIME := requirements/runtime.txt
LOCK_CHART   := requirements/chart.txt
UV_VERSION   := 0.13.9
UV_COMPILE   = $(BIN)/uv pip compile pyproject.toml --quiet --generate-hashes --universal \
	--python-version 3.11 --no-header --annotation-style line

.PHONY: install test trials lint docs demo bench clean lock

$(STAMP): pyproject.toml $(LOCK_DEV)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet --require-hashes -r $(LOCK_DEV)
	$(BIN)/pip install --quiet --no-deps -e .
	touch $(STAMP)

# dev: the runtime, test, bench, chart and docs dependencies (make install, CI); runtime and chart
# (the image, without and with --build-arg EXTRAS=chart) are held to dev's versions.
lock: $(STAMP)
	$(BIN)/pip install --quiet 'uv==$(UV_VERSION)'
	$(UV_COMPILE) --extra test --extra bench --extra chart --extra docs -o $(LOCK_DEV)
	$(UV_COMPILE) -c $(LOCK_DEV) -o $(LOCK_RUNTIME)
	$(UV_COMPILE) -c $(LOCK_DEV) --extra chart -o $(LOCK_CHART)

install: $(STAMP)

test: $(STAMP)
	$(BIN)/pytest $(PYTEST_ARGS)

# The one-actor trials at every moment (23 trials of about 30 s each): `make test` runs one
# trial of each kind.
trials: $(STAMP)
	HG_ONE_ACTOR_TRIALS=all $(BIN)/pytest -n 2 tests/service/test_service_one_actor.py

lint: $(STAMP)
	$(BIN)/ruff check worker tests bench scripts
	$(BIN)/mypy --strict worker scripts bench
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
