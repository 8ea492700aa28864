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
# iproute2 builds the network namespaces of the firewall test; redis-server runs the redis start script for real;
# rclone runs the Redis backup and restore scripts against a local directory standing in for B2; openssl reads
# certificate expiry (make status).
APT_PACKAGES := graphviz shellcheck cloud-init ufw iproute2 redis-server rclone openssl

.PHONY: plan test lint typecheck unit preview up smoke status system-deps config-reference docs-graph clean

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

# After every up (also the last step of .github/workflows/up.yml): public names through Cloudflare, each
# node's Traefik, node count and etcd health. Needs the Pulumi CLI (stack outputs) and kubectl.
smoke: $(VENV)/.installed
	$(PY) -m tools.smoke --stack $(STACK)

# Origin CA certificate expiry, age of the newest off-site etcd and Redis snapshots, the kubeconfig's expiry.
status: $(VENV)/.installed
	$(PY) -m tools.status --stack $(STACK)

clean:
	rm -rf build .pytest_cache .mypy_cache .ruff_cache

# The README's picture of the stack, from the offline plan.
docs-graph: plan
	cp build/plan/graph.png build/plan/graph.dot docs/
