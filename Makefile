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

ULTRALYTICS := ultralytics==8.4.190
# supervision with its ByteTrack (later releases moved trackers out: 0.31 has none); --no-deps, see pyproject.
SUPERVISION := supervision==0.27.0.post2

.PHONY: help install install-export k8s-tools bench-inference stack-up stack-down stack-status demo test lint check-python test-servers bench-ingest bench-counting bench-api bench-projector bench-analytics k8s-validate

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
	$(BIN)/pip install -q --no-deps '$(SUPERVISION)'
	$(BIN)/python -m tests.assets .stack/assets
	touch $@

install: $(BIN)/.installed

# The model toolchain (Ultralytics + torch, ~6 GB with CUDA libraries): `itscam model export`, the torch backend,
# the naive-peer benchmark and their tests. Ultralytics goes in without its opencv-python requirement (see pyproject).
$(BIN)/.installed-export: $(BIN)/.installed
	$(BIN)/pip install -q -e '.[export]'
	$(BIN)/pip install -q --no-deps '$(ULTRALYTICS)'
	touch $@

install-export: $(BIN)/.installed-export

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
	$(ITSCAM) bench ingest --json deploy/bench/results/ingest.json

bench-counting: stack-up install-export
	$(ITSCAM) bench counting --sweep --json deploy/bench/results/counting.json

bench-inference: stack-up install-export
	$(ITSCAM) bench inference --json deploy/bench/results/inference.json

# REPLAY_EVENTS=N: events of the rebuild part (1,000,000).
bench-projector: stack-up
	$(ITSCAM) bench projector $(if $(REPLAY_EVENTS),--replay-events $(REPLAY_EVENTS)) --json deploy/bench/results/projector.json

bench-analytics: stack-up
	$(ITSCAM) bench analytics --json deploy/bench/results/analytics.json

bench-api: stack-up
	$(ITSCAM) bench api --json deploy/bench/results/api.json

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/mypy

# Offline Kubernetes validation tools, under .stack/tools: kustomize and kubeconform built from the Go module proxy,
# checkov in its own virtualenv (its pins clash with ours). hadolint comes with the dev extra, promtool with Debian's
# prometheus package (tests/servers/apt-packages.txt).
TOOLS := $(CURDIR)/.stack/tools
# Go from PATH, else where the Go distribution installs itself.
GO ?= $(shell command -v go 2>/dev/null || echo /usr/local/go/bin/go)
GO_TOOL_ENV := GOBIN=$(TOOLS)/bin GOPATH=$(TOOLS)/go GOCACHE=$(TOOLS)/go-cache GOFLAGS=-modcacherw GOTOOLCHAIN=local
KUSTOMIZE := sigs.k8s.io/kustomize/kustomize/v5@v5.7.1
KUBECONFORM := github.com/yannh/kubeconform/cmd/kubeconform@v0.7.0
CHECKOV := checkov==3.3.30

$(TOOLS)/bin/kustomize:
	$(GO_TOOL_ENV) $(GO) install $(KUSTOMIZE)

$(TOOLS)/bin/kubeconform:
	$(GO_TOOL_ENV) $(GO) install $(KUBECONFORM)

$(TOOLS)/checkov/bin/checkov: | check-python
	$(PYTHON) -m venv $(TOOLS)/checkov
	$(TOOLS)/checkov/bin/pip install -q --upgrade pip
	$(TOOLS)/checkov/bin/pip install -q '$(CHECKOV)'

k8s-tools: $(TOOLS)/bin/kustomize $(TOOLS)/bin/kubeconform $(TOOLS)/checkov/bin/checkov

# The Kubernetes overlays, offline: strict schemas, Pod Security, checkov, the generated KafkaTopics.
k8s-validate: install k8s-tools
	$(ITSCAM) k8s validate

test: stack-up install-export test-servers k8s-tools lint
	$(BIN)/pytest $(PYTEST_ARGS)
