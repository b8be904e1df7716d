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
LINES ?=
PYTEST_ARGS ?=

# Installs come from the lock files: uv.lock (every Python dependency of every extra, with hashes) and locks/*.txt
# (the installer itself and checkov, with hashes). `make lock` refreshes them on purpose; see docs/dependencies.md.
TOOLS := $(CURDIR)/.stack/tools
UV := $(TOOLS)/uv/bin/uv
# uv never downloads a Python: it uses $(PYTHON).
export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := $(VENV)
LOCK_PY := --python-version 3.11 --universal --generate-hashes --quiet

.PHONY: help install install-export lock lock-check k8s-tools bench-inference stack-up stack-down stack-status demo \
	test lint check-python test-servers bench-ingest bench-counting bench-conditions bench-api bench-projector \
	bench-analytics k8s-validate docs chaos

help:
	@echo "make demo    run the whole pipeline on the sample clip (SOURCE=path-or-url ONCE=1 SUMMARY=out.json LINES=json)"
	@echo "make test    lint + the whole test suite against the local stack"
	@echo "make stack-up / stack-down / stack-status"
	@echo "make lock    refresh uv.lock and locks/*.txt to today's releases (then run make test)"
	@echo "make docs    build the documentation site (docs/, mkdocs --strict) into .stack/site"

check-python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is needed: set PYTHON=python3.11")'

# The installer, pinned by hash, in a venv of its own.
$(UV): locks/uv.txt | check-python
	$(PYTHON) -m venv $(TOOLS)/uv
	$(TOOLS)/uv/bin/pip install -q --require-hashes -r locks/uv.txt
	touch $@

# --locked: fails when pyproject.toml and uv.lock disagree (run `make lock`), instead of resolving anew.
# A venv that has the model toolchain keeps it (sync is exact: it would otherwise remove it).
$(BIN)/.installed: pyproject.toml uv.lock $(UV) | check-python
	$(UV) sync -q --locked --extra dev $(if $(wildcard $(BIN)/.installed-export),--extra export) --python $(PYTHON)
	$(BIN)/python -m tests.assets .stack/assets
	touch $@

install: $(BIN)/.installed

# The model toolchain (Ultralytics + torch, ~6 GB with CUDA libraries): `itscam model export`, the torch backend,
# the naive-peer benchmark and their tests.
$(BIN)/.installed-export: $(BIN)/.installed
	$(UV) sync -q --locked --extra dev --extra export --python $(PYTHON)
	touch $@

install-export: $(BIN)/.installed-export

# The images install uv.lock's runtime set through pip: exported with hashes, without dev tools.
EXPORT := $(UV) export --frozen --no-emit-project --no-dev --format requirements-txt --quiet
export-docker-reqs = $(EXPORT) -o $(1)/requirements.txt && $(EXPORT) --extra gpu -o $(1)/requirements-gpu.txt

# Refresh every lock to today's releases (deliberately: then run `make test` and commit the locks together).
lock: $(UV)
	$(UV) lock --upgrade --python $(PYTHON)
	$(UV) pip compile $(LOCK_PY) --upgrade locks/uv.in -o locks/uv.txt
	$(UV) pip compile $(LOCK_PY) --upgrade locks/checkov.in -o locks/checkov.txt
	$(call export-docker-reqs,deploy/docker)

# The locks agree with what they were made from (CI runs this in `make lint`): uv.lock with pyproject.toml, each
# locks/X.txt with locks/X.in, the images' requirements with uv.lock.
lock-check: $(UV)
	$(UV) lock --check --python $(PYTHON)
	@for f in locks/*.in; do while read -r req; do \
		grep -q "^$$req " "$${f%.in}.txt" || { echo "$${f%.in}.txt does not pin $$req: run make lock"; exit 1; }; \
	done < "$$f"; done
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && $(call export-docker-reqs,$$tmp) \
		&& for f in requirements.txt requirements-gpu.txt; do \
			diff -q <(grep -v '^#' "$$tmp/$$f") <(grep -v '^#' deploy/docker/$$f) >/dev/null \
			|| { echo "deploy/docker/$$f differs from uv.lock: run make lock"; exit 1; }; done

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
		$(if $(ONCE),--once) $(if $(SUMMARY),--summary '$(SUMMARY)') $(if $(MAX_FRAMES),--max-frames $(MAX_FRAMES)) \
		$(if $(LINES),--lines '$(LINES)')

# Loopback camera servers the ingest tests start (GStreamer's RTSP server runs on Debian's python3-gi), headless
# Chromium + chromedriver for the analyst-page test, wrk for the API benchmark and promtool (prometheus) for the
# alert-rule tests: Debian packages.
GST_CHECK := /usr/bin/python3 -c 'import gi; gi.require_version("GstRtspServer", "1.0"); from gi.repository import GstRtspServer'
TOOLS_CHECK := command -v chromium && command -v chromedriver && command -v wrk && command -v promtool
test-servers:
	@if ! { $(GST_CHECK) && $(TOOLS_CHECK); } >/dev/null 2>&1; then \
		if [ "$$(id -u)" = 0 ]; then \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
				$$(cat tests/servers/apt-packages.txt) >/dev/null; \
		else \
			echo "The test servers and tools need: sudo apt-get install $$(tr '\n' ' ' < tests/servers/apt-packages.txt)"; exit 1; \
		fi; \
	fi

bench-ingest: stack-up
	$(ITSCAM) bench ingest --json bench/results/ingest.json

bench-counting: stack-up install-export
	$(ITSCAM) bench counting --sweep --json bench/results/counting.json

# The clips under rain and spray, JPEG q30, low light, motion blur, noise, 5 fps and 360p (bench/conditions.py).
bench-conditions: stack-up install-export
	$(ITSCAM) bench counting --conditions --json bench/results/counting-conditions.json

bench-inference: stack-up install-export
	$(ITSCAM) bench inference --json bench/results/inference.json

# REPLAY_EVENTS=N: events of the rebuild part (1,000,000).
bench-projector: stack-up
	$(ITSCAM) bench projector $(if $(REPLAY_EVENTS),--replay-events $(REPLAY_EVENTS)) --json bench/results/projector.json

bench-analytics: stack-up
	$(ITSCAM) bench analytics --json bench/results/analytics.json

bench-api: stack-up
	$(ITSCAM) bench api --json bench/results/api.json

# The pipeline under faults on a stack of its own (ports 29092/25432/26379, ITS_CHAOS_*; never the shared one), checked
# against a clean run: docs/reliability.md. MINUTES=N: length of the faulted run (30); SHORT=1: the form `make test` runs.
chaos: install
	$(ITSCAM) chaos $(if $(SHORT),--short,--minutes $(or $(MINUTES),30)) --json bench/results/chaos.json

lint: install lock-check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/mypy

# Offline Kubernetes validation tools, under .stack/tools: kustomize and kubeconform built from the Go module proxy
# (pinned versions, checked against the Go checksum database), checkov in its own virtualenv from locks/checkov.txt
# (its pins clash with ours). hadolint comes with the dev extra, promtool with Debian's prometheus package
# (tests/servers/apt-packages.txt).
# Go from PATH, else where the Go distribution installs itself.
GO ?= $(shell command -v go 2>/dev/null || echo /usr/local/go/bin/go)
GO_TOOL_ENV := GOBIN=$(TOOLS)/bin GOPATH=$(TOOLS)/go GOCACHE=$(TOOLS)/go-cache GOFLAGS=-modcacherw GOTOOLCHAIN=local
KUSTOMIZE := sigs.k8s.io/kustomize/kustomize/v5@v5.7.1
KUBECONFORM := github.com/yannh/kubeconform/cmd/kubeconform@v0.7.0

$(TOOLS)/bin/kustomize:
	$(GO_TOOL_ENV) $(GO) install $(KUSTOMIZE)

$(TOOLS)/bin/kubeconform:
	$(GO_TOOL_ENV) $(GO) install $(KUBECONFORM)

$(TOOLS)/checkov/bin/checkov: locks/checkov.txt | check-python
	$(PYTHON) -m venv $(TOOLS)/checkov
	$(TOOLS)/checkov/bin/pip install -q --require-hashes -r locks/checkov.txt
	touch $@

k8s-tools: $(TOOLS)/bin/kustomize $(TOOLS)/bin/kubeconform $(TOOLS)/checkov/bin/checkov

# The documentation site (mkdocs.yml): docs/ into .stack/site; strict, so a broken link or anchor fails.
docs: install
	$(BIN)/mkdocs build --strict --quiet

# The Kubernetes overlays, offline: strict schemas, Pod Security, checkov, the generated KafkaTopics.
k8s-validate: install k8s-tools
	$(ITSCAM) k8s validate

test: stack-up install-export test-servers k8s-tools lint docs
	$(BIN)/pytest $(PYTEST_ARGS)
