# The two commands of the README: `make plan` (offline plan of prod) and `make test`.
# Both create ./venv and install what they need, Debian packages included, on a fresh machine: `make plan`
# only the program's runtime (requirements.txt) and graphviz, `make test` the test tools and the
# validators' Debian packages too. tools/env.sh installs from the hashed locks, one line per phase.

SHELL := /bin/bash
PYTHON ?= python3
export PYTHON
VENV := venv
PY := $(VENV)/bin/python
STACK ?= prod
# e.g. make plan PLAN_ARGS='--set sslMode=strict' to see a config change offline
PLAN_ARGS ?=
# pytest workers (pytest-xdist): one per core and one more, because the firewall labs spend most of their
# time waiting for probes to time out (measured on 2 cores: 2m50s with 2 workers, 2m13s with 3);
# PYTEST_WORKERS=0 runs the tests in this process. A fixture that takes tens of seconds is built once per
# session, not once per worker (tests/conftest.py once_per_session). No test needs to run alone: tests write only under
# their tmp_path, the firewall lab names its namespaces after its pid (tests/netns_lab.py), redis listens
# on a free port, mock engines live in their worker's process, and tools/env.sh builds one venv at a time.
PYTEST_WORKERS ?= $(shell echo $$(( $$(nproc) + 1 )))
# graphviz draws the plan's graph (offline/graph.py, `dot`): the only Debian package the plan needs.
PLAN_APT_PACKAGES := graphviz
# shellcheck, cloud-init and ufw validate and run what nodes get; iproute2 builds the network
# namespaces of the firewall test and ipset holds the K3s rules it loads (tests/k3s_rules.py); redis-server runs the redis start script for real; rclone runs the
# Redis backup and restore scripts against a local directory standing in for B2; openssl reads
# certificate expiry (tools/status.py and its tests); jq runs the status workflow's issue step against a fake gh.
# curl runs scripts/edge/wait-serving.sh against a local HTTP server (tests/test_serving.py).
TEST_APT_PACKAGES := $(PLAN_APT_PACKAGES) shellcheck cloud-init ufw iproute2 ipset redis-server rclone openssl jq curl
# Bytecode is cached under build/pycache, also where PYTHONDONTWRITEBYTECODE is set: otherwise every
# process that imports the provider SDKs (the plan, each pytest worker, the tests' subprocesses) compiles
# the same ~1,400 modules again: a plan's process used 8.0 s of CPU here without the cache, 3.7 s with it.
export PYTHONPYCACHEPREFIX ?= $(CURDIR)/build/pycache
unexport PYTHONDONTWRITEBYTECODE
# Each line of output says which command it belongs to: [plan], [test], ...
GOAL := $(or $(firstword $(MAKECMDGOALS)),make)
LABEL := $(if $(findstring /,$(GOAL)),make,$(GOAL))
ENV := tools/env.sh --label $(LABEL)

.PHONY: pulumi-cli plan plan-diff scenario test lint typecheck unit preview up system-deps plan-system-deps lock config-reference docs-graph clean kubeconfig deploy-key adopt-check adopt-keys redis-restore smoke status

# The program's runtime only: what `make plan` (and the Pulumi CLI) needs.
$(VENV)/.runtime: requirements.txt tools/uv.txt
	@$(ENV) venv $(VENV) requirements.txt
	@touch $@

# Runtime and test tools: what `make test` needs.
$(VENV)/.installed: requirements.txt requirements-dev.txt tools/uv.txt
	@$(ENV) venv $(VENV) requirements.txt requirements-dev.txt
	@touch $(VENV)/.runtime $@

# The policy pack's own venv: pulumi-policy pins an older protobuf than ./venv has (policy/requirements.txt).
POLICY_VENV := policy/venv
$(POLICY_VENV)/.installed: policy/requirements.txt tools/uv.txt
	@$(ENV) venv $(POLICY_VENV) policy/requirements.txt
	@touch $@

# checkov's own venv (tools/checkov/requirements.txt), for tests/test_checkov.py only: checkov pins ~95 packages
# (networkx 2.x, packaging 23.x, boto3, ...) that must not enter ./venv, and `make plan` never needs it. Under
# build/, next to uv, because mypy reads every file under tools/ (pyproject.toml).
CHECKOV_VENV := build/tools/checkov-venv
$(CHECKOV_VENV)/.installed: tools/checkov/requirements.txt tools/uv.txt
	@$(ENV) venv $(CHECKOV_VENV) tools/checkov/requirements.txt
	@touch $@

plan-system-deps:
	@$(ENV) debian $(PLAN_APT_PACKAGES)

system-deps:
	@$(ENV) debian $(TEST_APT_PACKAGES)

plan: $(VENV)/.runtime plan-system-deps
	@echo "[plan] evaluating the program for stack $(STACK)…"
	@$(PY) -m offline --stack $(STACK) $(PLAN_ARGS)

# The offline plan of BASE next to the working tree's, as a review (offline/plan_diff.py); no credentials.
# e.g. make plan-diff BASE=origin/main
BASE ?=
ifneq ($(filter plan-diff,$(MAKECMDGOALS)),)
ifeq ($(BASE),)
$(error usage: make plan-diff BASE=<git ref>, e.g. BASE=origin/main)
endif
endif
plan-diff: $(VENV)/.runtime
	@echo "[plan-diff] rendering the offline plans of $(BASE) and the working tree…"
	@$(PY) -m offline.plan_diff --base '$(BASE)' --stack $(STACK) --out build/plan-diff.md

# One day-2 scenario (offline/scenarios.py) as the real engine would run it: make scenario NAME=replace-server-2.
# Without NAME, the list of scenarios.
NAME ?=
# SET='k3sVersion=v1.34.7+k3s1 apiReplicas=3': config changes on top of the scenario's (one word each).
SET ?=
scenario: $(VENV)/.runtime
	@$(PY) -m offline.scenario_report $(NAME) --stack $(STACK) $(foreach s,$(SET),--set '$(s)')

lint: $(VENV)/.installed
	@echo "[$(LABEL)] ruff…"
	@$(VENV)/bin/ruff check --quiet .
	@$(VENV)/bin/ruff format --check --quiet .
	@echo "[$(LABEL)] zizmor (workflows, auditor persona)…"
	@$(VENV)/bin/zizmor --offline --persona=auditor --quiet .github/workflows

typecheck: $(VENV)/.installed
	@echo "[$(LABEL)] mypy (strict)…"
	@$(VENV)/bin/mypy

unit: $(VENV)/.installed system-deps
	@echo "[$(LABEL)] pytest ($(PYTEST_WORKERS) workers)…"
	@$(PY) -m pytest -n $(PYTEST_WORKERS)
# tests/test_policy_pack.py runs the policy pack's own tests with it.
unit: $(POLICY_VENV)/.installed
# tests/test_checkov.py scans the apps' namespace with it.
unit: $(CHECKOV_VENV)/.installed
# The bytecode of ./venv's packages (the provider SDKs: ~1,400 modules every worker imports) and of the
# repository, compiled once on every core before the tests start: otherwise the pytest workers and the tests'
# subprocesses each compile the same modules as they first import them (from a fresh clone: about 20 s of the
# tests' wall time; compiling first takes about 10 s). The standard library (20 s to compile whole) and the
# policy and checkov venvs (one process each) are left to compile as they are imported.
PYCACHE_STAMP := build/pycache/.compiled
$(PYCACHE_STAMP): $(VENV)/.installed
	@echo "[$(LABEL)] compiling bytecode (build/pycache)…"
	@mkdir -p build/logs
	@$(PY) -m compileall -q -j 0 $(VENV)/lib components offline tools tests >build/logs/compileall.log 2>&1 || true
	@touch $@
unit: $(PYCACHE_STAMP)

test: lint typecheck unit

# Refreshes every lock from its .in file (requirements*.in, policy/ and tools/checkov/requirements.in, tools/uv.in): the one command to run after
# editing a pin. Transitive pins stay where they still fit; LOCK_ARGS=--upgrade moves them to the newest.
lock:
	@$(ENV) lock $(LOCK_ARGS)

config-reference: $(VENV)/.installed
	$(PY) -m tools.config_reference --write README.md

# A real preview of prod: needs the Pulumi CLI, a login and the stack's ESC environment (docs/ci.md).
# Both run the policy pack like CI does. The CLI starts a Python pack in the pack's directory and hands
# it the runtime options of policy/PulumiPolicy.yaml (`-virtualenv=venv`), so the pack runs from
# policy/venv, which must exist first (NewPolicyAnalyzer: `pwd := policyPackPath`, options passed as
# `-<key>=<value>`: https://github.com/pulumi/pulumi/blob/master/sdk/go/common/resource/plugin/analyzer_plugin.go;
# https://www.pulumi.com/docs/insights/policy/policy-packs/project-file/).
# The Pulumi CLI, installed and logged in: one sentence when it is not, before anything is built or read
# (listed first, so a missing CLI fails before the policy venv is built or a state export is piped on).
pulumi-cli:
	$(if $(shell command -v pulumi),,$(error the Pulumi CLI is not installed (CI uses 3.272.0): https://www.pulumi.com/docs/iac/download-install/))
	$(if $(shell pulumi whoami >/dev/null 2>&1 && echo ok),,$(error the Pulumi CLI is not logged in: run `pulumi login` (docs/ci.md)))

# REPLACE='URN …' and TARGET='URN …' become --replace/--target options, so a local replacement goes
# through the policy pack like every other change. URNs hold `$` (`Nodes$hcloud:…`): `value` keeps make
# from expanding it, and each option is single-quoted for the shell.
# TARGET_DEPENDENTS=1 adds --target-dependents (re-run one failing step and what waits on it).
REPLACE ?=
TARGET ?=
TARGET_DEPENDENTS ?=
PULUMI_OPTIONS = $(if $(findstring ',$(value REPLACE)$(value TARGET)),$(error REPLACE/TARGET: a URN never holds a single quote)) \
  $(foreach u,$(value REPLACE),'--replace=$(u)') $(foreach u,$(value TARGET),'--target=$(u)') \
  $(if $(TARGET_DEPENDENTS),--target-dependents)

preview: pulumi-cli $(VENV)/.runtime $(POLICY_VENV)/.installed
	pulumi preview --stack $(STACK) --diff --policy-pack policy $(PULUMI_OPTIONS)

# With adoptDeployKeyFirst set (docs/migration.md step 3) the program registers only the deploy key: refused
# when the state holds anything else, which that `up` would delete.
up: pulumi-cli $(VENV)/.runtime $(POLICY_VENV)/.installed
	@if grep -Eq '^ *honeydue:adoptDeployKeyFirst: *"?true"?' Pulumi.$(STACK).yaml; then \
	  set -o pipefail; pulumi stack export --stack $(STACK) | $(PY) -m tools.adopt_keys --check-deploy-key-first; fi
	pulumi up --stack $(STACK) --policy-pack policy $(PULUMI_OPTIONS)
	@# The consumers' stack (docs/outputs.md) takes the new outputs, as up.yml does after every up.
	pulumi up --cwd outputs-stack --stack $(STACK) --yes --skip-preview

# Root credentials are no stack outputs (docs/outputs.md): these read them from the decrypted state into
# 0600 files under build/ (needs the CLI, a login and access to the stack's secrets). An older copy is removed
# first: umask sets the mode of a new file only. The kubeconfig is the one Pulumi uses (the pulumi-deployer
# ServiceAccount, cluster-admin); the key is root SSH on every node.
kubeconfig: pulumi-cli $(VENV)/.runtime
	@set -o pipefail; mkdir -p build && rm -f build/kubeconfig-$(STACK).yaml && umask 077 && pulumi stack export --stack $(STACK) --show-secrets \
	  | $(PY) -m tools.state_secrets kubeconfig > build/kubeconfig-$(STACK).yaml || { rm -f build/kubeconfig-$(STACK).yaml; exit 1; }
	@echo "export KUBECONFIG=$(CURDIR)/build/kubeconfig-$(STACK).yaml"

deploy-key: pulumi-cli $(VENV)/.runtime
	@set -o pipefail; mkdir -p build && rm -f build/deploy-key-$(STACK) && umask 077 && pulumi stack export --stack $(STACK) --show-secrets \
	  | $(PY) -m tools.state_secrets deploy-key > build/deploy-key-$(STACK) || { rm -f build/deploy-key-$(STACK); exit 1; }
	@echo "ssh -i $(CURDIR)/build/deploy-key-$(STACK) root@<node ipv4>"

# Adopting the hand-built production (docs/migration.md). LIVE: a directory of exported JSON (tools/live.py).
LIVE ?=
adopt-check: $(VENV)/.runtime
	@[ -n "$(LIVE)" ] || { echo "usage: make adopt-check LIVE=dir/ (tools/live.py lists the files)"; exit 2; }
	@$(PY) -m tools.adopt_check --stack $(STACK) $(LIVE)

# Needs the Pulumi CLI (state), ssh with the operator's own key, and LIVE/hcloud-servers.json.
adopt-keys: pulumi-cli $(VENV)/.runtime
	@[ -n "$(LIVE)" ] || { echo "usage: make adopt-keys LIVE=dir/"; exit 2; }
	@$(PY) -m tools.adopt_keys --stack $(STACK) --live $(LIVE)

# Restores Redis from a named off-site snapshot: backups suspended, Redis stopped, the restore Job, Redis back,
# backups resumed (tools/redis_restore.py; docs/runbook.md). Needs kubectl; FORCE=1 replaces an AOF on the volume.
SNAPSHOT ?=
FORCE ?=
redis-restore: kubeconfig
	@[ -n "$(SNAPSHOT)" ] || { echo "usage: make redis-restore SNAPSHOT=redis-<UTC time>.rdb [FORCE=1] (rclone lsf lists them: docs/runbook.md)"; exit 2; }
	@$(PY) -m tools.redis_restore --stack $(STACK) --snapshot '$(SNAPSHOT)' $(if $(FORCE),--force) --kubeconfig build/kubeconfig-$(STACK).yaml

# After every up (also the last step of .github/workflows/up.yml): public names through Cloudflare, each
# node's Traefik, node count and etcd health. Needs the Pulumi CLI (stack outputs) and kubectl.
# Both read the operator kubeconfig `make kubeconfig` writes (the stack exports no admin credential).
smoke: kubeconfig
	$(PY) -m tools.smoke --stack $(STACK) --kubeconfig build/kubeconfig-$(STACK).yaml

# Age of the newest etcd and Redis snapshots in the off-site bucket (rclone, with the list-only B2 key in
# STATUS_B2_KEY_ID and STATUS_B2_APPLICATION_KEY; limits follow the schedules), failed backup Jobs, the Origin
# CA certificate's and the kubeconfig's expiry (tools/status.py). make exits 2 both for FAIL lines and for
# checks that could not run: STATUS_ARGS='--verdict FILE' writes which (.github/workflows/status.yml).
STATUS_ARGS ?=
status: kubeconfig
	$(PY) -m tools.status --stack $(STACK) --kubeconfig build/kubeconfig-$(STACK).yaml $(STATUS_ARGS)

clean:
	rm -rf build .pytest_cache .mypy_cache .ruff_cache

# The README's picture of the stack, from the offline plan.
docs-graph: plan
	cp build/plan/graph.png build/plan/graph.dot docs/
