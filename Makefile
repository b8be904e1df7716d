# ITS Camera AI — the two commands: `make demo` and `make test`. Everything they need is installed here.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
ITSCAM := $(BIN)/itscam
SOURCE ?=
CAMERA_ID ?=
ONCE ?=
SUMMARY ?=
MAX_FRAMES ?=
PYTEST_ARGS ?=

.PHONY: help install stack-up stack-down stack-status demo test lint check-python

help:
	@echo "make demo    run the whole pipeline on the sample clip (SOURCE=path-or-url ONCE=1 SUMMARY=out.json)"
	@echo "make test    lint + the whole test suite against the local stack"
	@echo "make stack-up / stack-down / stack-status"

check-python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is needed: set PYTHON=python3.11")'

$(BIN)/.installed: pyproject.toml | check-python
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	$(BIN)/python -m tests.assets .stack/assets
	touch $@

install: $(BIN)/.installed

stack-up: install
	$(ITSCAM) stack up
	$(ITSCAM) topics apply
	$(ITSCAM) db migrate

stack-down:
	@if [ -x $(ITSCAM) ]; then $(ITSCAM) stack down; fi

stack-status: install
	$(ITSCAM) stack status

demo: stack-up
	$(ITSCAM) demo $(if $(SOURCE),--source '$(SOURCE)') $(if $(CAMERA_ID),--camera-id '$(CAMERA_ID)') \
		$(if $(ONCE),--once) $(if $(SUMMARY),--summary '$(SUMMARY)') $(if $(MAX_FRAMES),--max-frames $(MAX_FRAMES))

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/mypy

test: stack-up lint
	$(BIN)/pytest $(PYTEST_ARGS)
