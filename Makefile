# utizmon: `make demo` runs it, `make test` proves it works. Bare `make` prints this help.
.DEFAULT_GOAL := help
SHELL := /bin/bash
.PHONY: help deps build release demo test lint unit promtool prometheus-config js browser bench scripts-test \
        test-deploy create-all run status logs ssh-master destroy-all lint-deploy vagrant-check \
        dist test-dist test-vagrant

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
	$(CARGO) build --release --locked -p utizmon-server -p utizmon-edge

demo: release ## Run the server and one local edge in the foreground; Ctrl-C stops both
	bash scripts/demo.sh

lint: ## rustfmt and clippy
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings

unit: build ## Unit and integration tests (real binaries on 127.0.0.1)
	$(CARGO) nextest run --workspace --locked --no-fail-fast

promtool: build ## promtool check metrics on a live /metrics
	bash scripts/check-metrics.sh

js: ## Unit tests of the dashboards' pure JavaScript modules (tests/js/, Node's test runner)
	node --test tests/js/*.test.mjs

browser: build ## Headless Chromium (and Firefox when installed) drive the real server and edges
	cd tests/browser && node --experimental-websocket --test --test-concurrency=1 dashboard.test.mjs host-sections.test.mjs alerts.test.mjs login.test.mjs firefox.test.mjs

scripts-test: ## The deployment scripts' own tests (mirror choice, binary choice, packages; no VMs)
	bash tests/scripts/run.sh

# Seconds each fuzz target runs in `make fuzz` (`make test` runs them for 2 s each).
FUZZ_SECONDS ?= 60

fuzz: ## Fuzz the edge frame decoder and the history query parameters (FUZZ_SECONDS each, default 60)
	UTIZMON_FUZZ_SECONDS=$(FUZZ_SECONDS) $(CARGO) test -p utizmon-fuzz --release --locked --test decode_edge --test samples_query -- --nocapture

prometheus-config: ## promtool check config on deploy/prometheus/, every PromQL expression of its Grafana dashboard, and check + test rules on utizmon-rules.yml
	bash scripts/check-prometheus.sh

test: deps lint lint-deploy scripts-test unit promtool prometheus-config js browser ## Everything that proves it works
	@echo "make test: all checks passed"

bench: release ## Benchmarks; prints a table and writes docs/benchmarks.md
	bash scripts/bench.sh

# ---- Deployment: Vagrant VMs + Ansible (site.yml, roles/); see docs/deploy.md ----
VAGRANT ?= vagrant
UTIZMON_DASHBOARD_PORT ?= 5000
MASTER_VM := utizmon-master
# deploy/lab.sh needs root (network namespace, taps, debootstrap)
SUDO := $(shell [ "$$(id -u)" -eq 0 ] || echo sudo)

# Fails with a clear message when Vagrant or a usable provider is missing.
vagrant-check:
	@command -v $(VAGRANT) >/dev/null 2>&1 || { echo "error: vagrant is not installed (https://developer.hashicorp.com/vagrant/install; Debian: apt-get install vagrant vagrant-libvirt)" >&2; exit 1; }
	@p="$${VAGRANT_DEFAULT_PROVIDER:-}"; \
	vbox=no; command -v VBoxManage >/dev/null 2>&1 && vbox=yes; \
	lv=no; $(VAGRANT) plugin list 2>/dev/null | grep -q vagrant-libvirt && { [ -S /var/run/libvirt/libvirt-sock ] || [ -S /run/libvirt/libvirt-sock ]; } && lv=yes; \
	case "$$p" in \
	  virtualbox) [ $$vbox = yes ] || { echo "error: VAGRANT_DEFAULT_PROVIDER=virtualbox but VBoxManage is not on PATH (install VirtualBox)" >&2; exit 1; } ;; \
	  libvirt) [ $$lv = yes ] || { echo "error: VAGRANT_DEFAULT_PROVIDER=libvirt needs the vagrant-libvirt plugin and a running libvirtd (apt-get install vagrant-libvirt libvirt-daemon-system)" >&2; exit 1; } ;; \
	  "") [ $$vbox = yes ] || [ $$lv = yes ] || { echo "error: no Vagrant provider found: install VirtualBox, or vagrant-libvirt with a running libvirtd (docs/deploy.md)" >&2; exit 1; } ;; \
	  *) echo "note: VAGRANT_DEFAULT_PROVIDER=$$p is not one this project tests (virtualbox, libvirt)" >&2 ;; \
	esac

create-all: vagrant-check ## Create and boot the master and edge VMs (UTIZMON_EDGES, default 2)
	$(VAGRANT) up --no-provision
	$(VAGRANT) provision '/^utizmon-edge-/'

run: vagrant-check ## Deploy with site.yml (picks or builds Linux binaries first), then print the dashboard URLs
	@# scripts/pick-binaries.sh says which binaries and why: a release URL, a cargo build,
	@# dist/, prebuilt target/release, or (opt-in) a build in the master VM
	@choice=$$(bash scripts/pick-binaries.sh) || exit 1; \
	set -- $$choice; \
	case "$$1" in \
	  binary_dir) export UTIZMON_BINARY_DIR="$$2" UTIZMON_RELEASE_URL= ;; \
	  release_url) export UTIZMON_RELEASE_URL="$$2" UTIZMON_BINARY_DIR= ;; \
	esac; \
	echo "+ $(VAGRANT) up --no-provision && $(VAGRANT) provision $(MASTER_VM)"; \
	$(VAGRANT) up --no-provision && $(VAGRANT) provision $(MASTER_VM)
	@echo
	@echo "utizmon is deployed (https with the deployment's own CA; log in as admin):"
	@echo "  dashboard  https://127.0.0.1:$(UTIZMON_DASHBOARD_PORT)/   (forwarded port on this host)"
	@echo "             https://192.168.56.10:5000/   (host-only network)"
	@echo "  metrics    https://127.0.0.1:$(UTIZMON_DASHBOARD_PORT)/metrics"
	@echo "             https://192.168.56.10:5000/metrics"
	@if [ -f .secrets/admin-password ]; then \
	  echo "  login      admin, password in .secrets/admin-password (mode 0600)"; \
	  echo "  CA         .secrets/ca.pem: import it in the browser, or curl --cacert .secrets/ca.pem -u admin:..."; \
	 else \
	  echo "  login      admin, password in /vagrant/.secrets/admin-password on the master (generated there):"; \
	  echo "             $(VAGRANT) ssh $(MASTER_VM) -c 'sudo cat /vagrant/.secrets/admin-password'"; \
	  echo "  CA         /vagrant/.secrets/ca.pem on the master (the browser warns until you import it)"; \
	 fi
	@if [ -n "$${UTIZMON_BRIDGE:-}" ]; then \
	  for a in $$($(VAGRANT) ssh $(MASTER_VM) -c "ip -4 -o addr show scope global | awk '{print \$$4}' | cut -d/ -f1" 2>/dev/null | tr -d '\r'); do \
	    case "$$a" in 192.168.56.*|10.0.2.*|192.168.121.*) ;; *) echo "  bridged    https://$$a:5000/ (not in the certificate: the browser warns)";; esac; \
	  done; \
	fi

status: vagrant-check ## VM states and the utizmon services on each VM
	$(VAGRANT) status
	@for vm in $$($(VAGRANT) status --machine-readable | awk -F, '$$3=="state" && $$4=="running" {print $$2}'); do \
	  case "$$vm" in $(MASTER_VM)) svc=utizmon-server;; *) svc=utizmon-edge;; esac; \
	  printf '%-18s %-15s %s\n' "$$vm" "$$svc" "$$($(VAGRANT) ssh $$vm -c "systemctl is-active $$svc" 2>/dev/null | tr -d '\r')"; \
	done

logs: vagrant-check ## Last 100 journal lines of the server and of every edge
	@for vm in $$($(VAGRANT) status --machine-readable | awk -F, '$$3=="state" && $$4=="running" {print $$2}'); do \
	  case "$$vm" in $(MASTER_VM)) svc=utizmon-server;; *) svc=utizmon-edge;; esac; \
	  echo "==> $$vm: journalctl -u $$svc"; \
	  $(VAGRANT) ssh $$vm -c "sudo journalctl -u $$svc -n 100 --no-pager"; \
	done

ssh-master: vagrant-check ## Open a shell on the master VM
	$(VAGRANT) ssh $(MASTER_VM)

destroy-all: vagrant-check ## Destroy every VM of this Vagrantfile and forget the deployment's secrets (CA, tokens, admin password)
	$(VAGRANT) destroy -f
	rm -rf .secrets

# no version check against HashiCorp's servers from tests
lint-deploy: export VAGRANT_CHECKPOINT_DISABLE := 1
lint-deploy: ## vagrant validate (libvirt, VirtualBox, both provisioners), ansible-lint, playbook syntax
	VAGRANT_DEFAULT_PROVIDER=libvirt $(VAGRANT) validate
	$(VAGRANT) validate --ignore-provider
	UTIZMON_PROVISIONER=ansible_local UTIZMON_EDGE_ISOLATION=1 UTIZMON_EDGES=3 $(VAGRANT) validate
	ansible-lint --offline --profile production site.yml roles/
	ansible-playbook -i inventory/lab.yml --syntax-check site.yml
	for f in deploy/*.sh scripts/*.sh scripts/lib/*.sh packaging/debian/*; do bash -n "$$f" || exit 1; done

dist: release ## Release artefacts in dist/: versioned tarball, utizmon-server/-edge .debs, SHA256SUMS
	bash scripts/dist.sh

test-dist: dist ## Root: lintian, then install and purge the .debs in a Debian 12 chroot (lab image)
	bash scripts/deps.sh deploy
	$(SUDO) bash scripts/test-dist.sh

# Which provisioner flows test-vagrant runs (space-separated; default: both), and which of
# them run `make run` a second time to require changed=0 (default: all; CI: `ansible`, for
# its time budget).
UTIZMON_VAGRANT_FLOWS ?= ansible ansible_local
UTIZMON_VAGRANT_RERUN_FLOWS ?= $(UTIZMON_VAGRANT_FLOWS)
test-vagrant: dist ## Root: the user's Vagrant commands on libvirt VMs in a namespace, both provisioners, with test-deploy's checks (~50 min under TCG)
	bash scripts/deps.sh vagrant
	$(SUDO) env UTIZMON_VAGRANT_FLOWS="$(UTIZMON_VAGRANT_FLOWS)" UTIZMON_VAGRANT_RERUN_FLOWS="$(UTIZMON_VAGRANT_RERUN_FLOWS)" deploy/vagrant-lab.sh test

test-deploy: release ## Real VMs: QEMU master + 2 edges in a network namespace, deployed by site.yml (~10 min)
	bash scripts/deps.sh deploy
	$(SUDO) deploy/lab.sh test
