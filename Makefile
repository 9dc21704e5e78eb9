# utizmon: `make demo` runs it, `make test` proves it works. Bare `make` prints this help.
.DEFAULT_GOAL := help
SHELL := /bin/bash
.PHONY: help deps build release demo test lint unit promtool browser bench \
        test-deploy create-all run status logs ssh-master destroy-all

CARGO ?= cargo
# Where `make demo` keeps its state; under target/ so git ignores it.
DEMO_DIR ?= target/demo

help: ## Show this help
	@grep -E '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  %-14s %s\n", $$1, $$2}'

deps: ## Install what tests need beyond Rust (promtool, Chromium + driver, Node packages)
	bash scripts/deps.sh test

build: ## Debug build of both binaries
	$(CARGO) build --workspace --locked

release: ## Optimised build of both binaries (target/release/)
	$(CARGO) build --workspace --release --locked

demo: release ## Run the server and one local edge in the foreground; Ctrl-C stops both
	bash scripts/demo.sh

lint: ## rustfmt and clippy
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings

unit: build ## Unit and integration tests (real binaries on 127.0.0.1)
	$(CARGO) nextest run --workspace --locked --no-fail-fast

promtool: build ## promtool check metrics on a live /metrics
	bash scripts/check-metrics.sh

browser: build ## Headless Chromium drives the real server and edges (tests/browser)
	cd tests/browser && node --test --test-concurrency=1 dashboard.test.mjs

test: deps lint unit promtool browser ## Everything that proves it works
	@echo "make test: all checks passed"

bench: release ## Benchmarks; prints a table and writes docs/benchmarks.md
	bash scripts/bench.sh
