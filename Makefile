# `make test` installs everything into .venv (once) and runs the whole suite.
VENV ?= .venv
PYTHON := $(VENV)/bin/python
PYTEST_ARGS ?=

.PHONY: install test lint

# uv (from PyPI, into the venv) installs in seconds; pip does the job when uv cannot be had.
# Bytecode is compiled at install, as pip does, so runs start fast even where
# PYTHONDONTWRITEBYTECODE is set.
$(VENV)/.installed: pyproject.toml
	@echo "--> $(VENV): creating it"
	python3 -m venv $(VENV)
	@echo "--> installing uv into $(VENV)"
	$(PYTHON) -m pip install --quiet --disable-pip-version-check uv \
		|| echo "--> uv could not be installed: pip installs instead (slower)"
	@echo "--> installing this package and its test dependencies"
	if [ -x $(VENV)/bin/uv ]; then \
		$(VENV)/bin/uv pip install --python $(PYTHON) --compile-bytecode -e '.[test]'; \
	else $(PYTHON) -m pip install --progress-bar on -e '.[test]'; fi
	touch $@

install: $(VENV)/.installed

# pytest-xdist on every core, one test handed out at a time (the slow ones first: conftest.py).
test: install
	$(PYTHON) -m pytest -n auto --maxschedchunk 1 $(PYTEST_ARGS)

lint: install
	$(PYTHON) -m ruff check .
	$(PYTHON) -m ruff format --check .
