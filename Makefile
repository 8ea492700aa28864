# The two commands of the README: `make plan` (offline plan of prod) and `make test`.
# Both create ./venv and install what they need, Debian packages included, on a fresh machine.

SHELL := /bin/bash
PYTHON ?= python3
VENV := venv
PY := $(VENV)/bin/python
STACK ?= prod
# e.g. make plan PLAN_ARGS='--set sslMode=strict' to see a config change offline
PLAN_ARGS ?=
# graphviz draws the plan's graph; shellcheck, cloud-init and ufw validate and run what nodes get;
# iproute2 builds the network namespaces of the firewall test; redis-server runs the redis start script for real.
APT_PACKAGES := graphviz shellcheck cloud-init ufw iproute2 redis-server

.PHONY: plan test lint typecheck unit preview up system-deps config-reference docs-graph clean adopt-check adopt-targets adopt-keys

$(VENV)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements.txt -r requirements-dev.txt
	touch $@

# The policy pack's own venv: pulumi-policy pins an older protobuf than ./venv has (policy/requirements.txt).
POLICY_VENV := policy/venv
$(POLICY_VENV)/.installed: policy/requirements.txt
	$(PYTHON) -m venv $(POLICY_VENV)
	$(POLICY_VENV)/bin/pip install --quiet --disable-pip-version-check -r policy/requirements.txt
	touch $@

system-deps:
	@missing=$$(for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages: $$missing"; \
	  sudo=""; [ "$$(id -u)" = 0 ] || sudo=sudo; \
	  $$sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

plan: $(VENV)/.installed system-deps
	$(PY) -m offline --stack $(STACK) $(PLAN_ARGS)

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: $(VENV)/.installed
	$(VENV)/bin/mypy

unit: $(VENV)/.installed system-deps
	$(PY) -m pytest
# tests/test_policy_pack.py runs the policy pack's own tests with it.
unit: $(POLICY_VENV)/.installed

test: lint typecheck unit

config-reference: $(VENV)/.installed
	$(PY) -m tools.config_reference --write README.md

# A real preview of prod: needs the Pulumi CLI, a login and the stack's secrets (see README).
preview: $(VENV)/.installed
	pulumi preview --stack $(STACK) --diff

up: $(VENV)/.installed
	pulumi up --stack $(STACK)

# Adopting the hand-built production (docs/migration.md). LIVE: a directory of exported JSON (tools/live.py).
LIVE ?=
adopt-check: $(VENV)/.installed
	@[ -n "$(LIVE)" ] || { echo "usage: make adopt-check LIVE=dir/ (tools/live.py lists the files)"; exit 2; }
	$(PY) -m tools.adopt_check --stack $(STACK) $(LIVE)

# The --target options of the `pulumi up` that creates only the deploy key, before adoption.
adopt-targets: $(VENV)/.installed
	@$(PY) -m tools.adopt_keys --stack $(STACK) --targets

# Needs the Pulumi CLI (state), ssh with the operator's own key, and LIVE/hcloud-servers.json.
adopt-keys: $(VENV)/.installed
	@[ -n "$(LIVE)" ] || { echo "usage: make adopt-keys LIVE=dir/"; exit 2; }
	$(PY) -m tools.adopt_keys --stack $(STACK) --live $(LIVE)

clean:
	rm -rf build .pytest_cache .mypy_cache .ruff_cache

# The README's picture of the stack, from the offline plan.
docs-graph: plan
	cp build/plan/graph.png build/plan/graph.dot docs/
