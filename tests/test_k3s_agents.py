"""The K3s agent pool as the program registers it (mock engine): joins, day-2 order, removal, DNS, prod unchanged."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.k3s.scripts import AGENT_ENV_DIR
from components.k3s.steps import LEAVE_REFUSED, NO_REPLAY
from offline.fakes import fake_ed25519_public_key
from offline.harness import run_program
from offline.plan import revealed, write_plan
from offline.records import Plan, Registration, SecretValue, plaintext_strings
from tests.conftest import rekeyed_host_key

COMMAND = "command:remote:Command"
SERVER = "hcloud:index/server:Server"
AGENTS = ("honeydue-agent-1", "honeydue-agent-2")
# Keys only a K3s server takes; none of them may reach an agent's config.yaml.
SERVER_ONLY_KEYS = {
    "cluster-init",
    "cluster-cidr",
    "service-cidr",
    "disable",
    "secrets-encryption",
    "flannel-backend",
    "tls-san",
    "advertise-address",
    "write-kubeconfig-mode",
}
AGENT_KEYS = {"server", "node-name", "node-ip", "node-external-ip", "kube-proxy-arg"}  # the token goes on stdin

# The resource names prod registered before agents existed (offline.harness.run_program(), sorted): with
# agentCount 0 the program must register exactly these.
PROD_RESOURCE_NAMES = [
    "cloudflare",
    "command",
    "hcloud",
    "honeydue",
    "honeydue-1",
    "honeydue-1-host-key",
    "honeydue-2",
    "honeydue-2-host-key",
    "honeydue-3",
    "honeydue-3-host-key",
    "honeydue-apps",
    "honeydue-apps-redis-password",
    "honeydue-configmap-honeydue-config",
    "honeydue-deploy",
    "honeydue-deploy",
    "honeydue-deployment-admin",
    "honeydue-deployment-api",
    "honeydue-deployment-worker",
    "honeydue-dns",
    "honeydue-dns-admin-a-honeydue-1",
    "honeydue-dns-admin-a-honeydue-2",
    "honeydue-dns-admin-a-honeydue-3",
    "honeydue-dns-admin-aaaa-honeydue-1",
    "honeydue-dns-admin-aaaa-honeydue-2",
    "honeydue-dns-admin-aaaa-honeydue-3",
    "honeydue-dns-apex-a-honeydue-1",
    "honeydue-dns-apex-a-honeydue-2",
    "honeydue-dns-apex-a-honeydue-3",
    "honeydue-dns-apex-aaaa-honeydue-1",
    "honeydue-dns-apex-aaaa-honeydue-2",
    "honeydue-dns-apex-aaaa-honeydue-3",
    "honeydue-dns-api-a-honeydue-1",
    "honeydue-dns-api-a-honeydue-2",
    "honeydue-dns-api-a-honeydue-3",
    "honeydue-dns-api-aaaa-honeydue-1",
    "honeydue-dns-api-aaaa-honeydue-2",
    "honeydue-dns-api-aaaa-honeydue-3",
    "honeydue-dns-k8s-a-1",
    "honeydue-dns-k8s-a-2",
    "honeydue-dns-k8s-a-3",
    "honeydue-dns-www-a-honeydue-1",
    "honeydue-dns-www-a-honeydue-2",
    "honeydue-dns-www-a-honeydue-3",
    "honeydue-dns-www-aaaa-honeydue-1",
    "honeydue-dns-www-aaaa-honeydue-2",
    "honeydue-dns-www-aaaa-honeydue-3",
    "honeydue-edge-tls",
    "honeydue-edge-tls-0rtt",
    "honeydue-edge-tls-always-use-https",
    "honeydue-edge-tls-min-tls-version",
    "honeydue-edge-tls-ssl",
    "honeydue-edge-tls-ssl-automatic-mode",
    "honeydue-edge-tls-tls-1-3",
    "honeydue-firewall",
    "honeydue-firewall",
    "honeydue-firewall-sync",
    "honeydue-firewall-sync-1",
    "honeydue-firewall-sync-2",
    "honeydue-firewall-sync-3",
    "honeydue-ingress-honeydue",
    "honeydue-k3s",
    "honeydue-k3s-1-cloud-init",
    "honeydue-k3s-1-converge",
    "honeydue-k3s-1-install",
    "honeydue-k3s-1-leave",
    "honeydue-k3s-1-ready",
    "honeydue-k3s-1-rekey",
    "honeydue-k3s-1-remove",
    "honeydue-k3s-2-cloud-init",
    "honeydue-k3s-2-converge",
    "honeydue-k3s-2-install",
    "honeydue-k3s-2-leave",
    "honeydue-k3s-2-ready",
    "honeydue-k3s-2-rekey",
    "honeydue-k3s-2-remove",
    "honeydue-k3s-3-cloud-init",
    "honeydue-k3s-3-converge",
    "honeydue-k3s-3-install",
    "honeydue-k3s-3-leave",
    "honeydue-k3s-3-ready",
    "honeydue-k3s-3-rekey",
    "honeydue-k3s-3-remove",
    "honeydue-k3s-k8s",
    "honeydue-k3s-kubeconfig",
    "honeydue-k3s-token",
    "honeydue-networkpolicy-admin-egress",
    "honeydue-networkpolicy-admin-ingress",
    "honeydue-networkpolicy-allow-dns",
    "honeydue-networkpolicy-api-ingress",
    "honeydue-networkpolicy-backend-egress",
    "honeydue-networkpolicy-default-deny",
    "honeydue-networkpolicy-redis-ingress",
    "honeydue-nodes",
    "honeydue-operator-9584e2fced",
    "honeydue-poddisruptionbudget-admin",
    "honeydue-poddisruptionbudget-api",
    "honeydue-poddisruptionbudget-worker",
    "honeydue-private",
    "honeydue-rolebinding-honeydue-consumer",
    "honeydue-secret-honeydue-app",
    "honeydue-secret-honeydue-consumer-token",
    "honeydue-secret-honeydue-redis",
    "honeydue-secret-honeydue-registry",
    "honeydue-service-admin",
    "honeydue-service-api",
    "honeydue-service-redis",
    "honeydue-serviceaccount-admin",
    "honeydue-serviceaccount-api",
    "honeydue-serviceaccount-honeydue-consumer",
    "honeydue-serviceaccount-redis",
    "honeydue-serviceaccount-worker",
    "honeydue-spread",
    "honeydue-statefulset-redis",
    "honeydue-traefik",
    "kube-system-helmchartconfig-traefik",
    "namespace-honeydue",
    "random",
    "tls",
]


@pytest.fixture(scope="module")
def plan() -> Plan:
    """prod with two agents, both released (replaceableNodes): their leave steps hold the real scripts."""
    return run_program("prod", {"agentCount": 2, "replaceableNodes": ["honeydue-agent-1", "honeydue-agent-2"]})


def command(plan: Plan, name: str) -> Registration:
    return plan.get(COMMAND, name)


def agent_config_yaml(plan: Plan, n: int) -> dict[str, Any]:
    text = revealed(command(plan, f"honeydue-k3s-agent-{n}-install").inputs["create"])
    body = text.split("cat >\"$tmp\" <<'HONEYDUE_EOF'\n", 1)[1].split("\nHONEYDUE_EOF", 1)[0]
    loaded = yaml.safe_load(body)
    assert isinstance(loaded, dict)
    return loaded


def host_of(reg: Registration) -> str:
    return str(revealed(reg.inputs["connection"])["hostKey"])


# --- prod is what it was -------------------------------------------------------------------------------


# Components added after agents (issue 16); their resources are additions, not changes of the list above.
LATER_COMPONENTS = (
    "honeydue:storage:Storage",
    "honeydue:maintenance:Maintenance",
    "honeydue:nodes:NodeUpgrades",
    # Issue 25: the edge's serving steps and origin pulls, Traefik's client-address Middlewares.
    "honeydue:edge:Serving",
    "honeydue:edge:OriginPulls",
    "traefik.io/v1alpha1:Middleware",
    "::honeydue-k3s-traefik-crds",
    "::honeydue-edge-tls-settle",
)


def _without_later_components(plan: Plan) -> list[str]:
    return sorted(r.name for r in plan.registrations if not any(c in r.urn for c in LATER_COMPONENTS))


def test_prod_registers_exactly_the_resources_it_did_before_agents(prod_plan: Plan) -> None:
    assert _without_later_components(prod_plan) == PROD_RESOURCE_NAMES


def test_agent_count_zero_is_prod() -> None:
    explicit = run_program("prod", {"agentCount": 0, "agentServerType": "cpx41"})
    assert _without_later_components(explicit) == PROD_RESOURCE_NAMES


# --- joining -------------------------------------------------------------------------------------------


def test_agents_join_in_parallel_after_the_last_server_is_ready(plan: Plan) -> None:
    last_ready = command(plan, "honeydue-k3s-3-ready")
    agent_steps = [r for r in plan.by_type(COMMAND) if r.name.startswith("honeydue-k3s-agent-")]
    for n in (1, 2):
        install = command(plan, f"honeydue-k3s-agent-{n}-install")
        assert last_ready.urn in install.dependencies
        # Never while a server restarts: the last server's converge step has finished too.
        assert command(plan, "honeydue-k3s-3-converge").urn in install.dependencies
        assert command(plan, f"honeydue-k3s-agent-{n}-rekey").urn in install.dependencies
        other = f"honeydue-k3s-agent-{3 - n}-"
        assert not [r.name for r in agent_steps if r.name.startswith(other) and plan.waits_for(install, r)]
        assert plan.waits_for(command(plan, f"honeydue-k3s-agent-{n}-ready"), install)


def test_no_agent_is_on_the_servers_chains(plan: Plan) -> None:
    agent_urns = {r.urn for r in plan.registrations if "agent" in r.name}
    for index in (1, 2, 3):
        for step in ("cloud-init", "install", "ready", "converge", "leave"):
            reg = command(plan, f"honeydue-k3s-{index}-{step}")
            assert not agent_urns & set(reg.dependencies), reg.name
    kubeconfig = command(plan, "honeydue-k3s-kubeconfig")
    assert not agent_urns & set(kubeconfig.dependencies)


def test_agent_config_has_only_agent_flags(plan: Plan) -> None:
    for n in (1, 2):
        config = agent_config_yaml(plan, n)
        assert set(config) == AGENT_KEYS
        assert not SERVER_ONLY_KEYS & set(config)
        assert not [k for k in config if k.startswith("etcd-")]
        assert config["server"] == "https://10.0.1.2:6443"
        assert config["node-name"] == f"honeydue-agent-{n}" and config["node-ip"] == f"10.0.1.{10 + n}"
        assert config["kube-proxy-arg"] == ["proxy-mode=ipvs"]
        stdin = command(plan, f"honeydue-k3s-agent-{n}-install").inputs["stdin"]
        assert isinstance(stdin, SecretValue)
        assert set(yaml.safe_load(revealed(stdin))) == {"token"}
        assert revealed(stdin).startswith("token: 'FAKE-RANDOM-honeydue-k3s-token")
        assert config["node-external-ip"] == [plan.outputs["agents"][f"honeydue-agent-{n}"]["ipv4"]]


def test_agent_steps_run_where_they_can(plan: Plan) -> None:
    """The API steps run on server 1 (an agent has no admin kubeconfig); the rest on the agent itself."""
    server_1 = rekeyed_host_key(plan, "honeydue-k3s-1-rekey")
    for n in (1, 2):
        # First boot pins the key from user data; everything after it the key the agent made itself.
        bootstrap = fake_ed25519_public_key(f"honeydue-agent-{n}-host-key")
        for step in ("cloud-init", "rekey"):
            assert host_of(command(plan, f"honeydue-k3s-agent-{n}-{step}")) == bootstrap, step
        agent = rekeyed_host_key(plan, f"honeydue-k3s-agent-{n}-rekey")
        for step in ("install", "converge", "wipe"):
            assert host_of(command(plan, f"honeydue-k3s-agent-{n}-{step}")) == agent != bootstrap, step
        for step in ("ready", "drain", "settle", "leave"):
            reg = command(plan, f"honeydue-k3s-agent-{n}-{step}")
            assert host_of(reg) == server_1, step
            text = revealed(reg.inputs.get("create") or reg.inputs["delete"])
            # The agent's env file at a path of its own, and never server 1's own env file.
            assert f"HONEYDUE_ENV_FILE={AGENT_ENV_DIR}/honeydue-agent-{n}.env\n" in text
            assert "/etc/honeydue/k3s.env" not in text.split("HONEYDUE_ENV_FILE=")[0]
            assert f"NODE_NAME=honeydue-agent-{n}\n" in text and "ROLE=agent\n" in text
    for step, script in (("ready", "agent-ready"), ("drain", "agent-drain"), ("settle", "agent-ready")):
        assert f"{script}.sh [%s]" in revealed(command(plan, f"honeydue-k3s-agent-1-{step}").inputs["create"])
    assert "converge.sh" in revealed(command(plan, "honeydue-k3s-agent-1-converge").inputs["create"])
    for reg in plan.by_type(COMMAND):
        connection = revealed(reg.inputs["connection"])
        assert connection["dialErrorLimit"] == -1 and reg.inputs.get("addPreviousOutputInEnv") is False
        assert "environment" not in reg.inputs


def test_agent_secrets_stay_secret(plan: Plan) -> None:
    for n in (1, 2):
        for step in ("install", "converge"):
            reg = command(plan, f"honeydue-k3s-agent-{n}-{step}")
            # Readable text, the token on stdin (secret), and never an S3 key on an agent.
            assert not isinstance(reg.inputs["create"], SecretValue)
            assert not [s for s in plan.known_secrets if s in reg.inputs["create"]], step
            assert isinstance(reg.inputs["stdin"], SecretValue)
            assert set(yaml.safe_load(revealed(reg.inputs["stdin"]))) == {"token"}
            assert set(reg.additional_secret_outputs) >= {"stdout", "stderr"}
        # Server 1's steps for an agent carry no secret at all, and no S3 key reaches an agent.
        for step in ("ready", "drain", "settle"):
            text = revealed(command(plan, f"honeydue-k3s-agent-{n}-{step}").inputs["create"])
            assert not [s for s in plan.known_secrets if s in text], step
        assert "etcdS3" not in str(revealed(command(plan, f"honeydue-k3s-agent-{n}-converge").inputs["create"]))
    secrets = set(plan.known_secrets)
    for reg in plan.registrations:
        for text in plaintext_strings(reg.inputs):
            assert not [s for s in secrets if s in text], reg.name


# --- day 2 ---------------------------------------------------------------------------------------------


def test_agents_converge_after_the_servers_one_at_a_time(plan: Plan) -> None:
    drain_1 = command(plan, "honeydue-k3s-agent-1-drain")
    assert command(plan, "honeydue-k3s-3-converge").urn in drain_1.dependencies
    for n in (1, 2):
        drain, converge, settle = (
            command(plan, f"honeydue-k3s-agent-{n}-{s}") for s in ("drain", "converge", "settle")
        )
        assert command(plan, f"honeydue-k3s-agent-{n}-ready").urn in drain.dependencies
        assert drain.urn in converge.dependencies and converge.urn in settle.dependencies
        assert not drain.ignore_changes and not converge.ignore_changes and not settle.ignore_changes
        # The settle step runs again whenever the converge step does.
        assert revealed(settle.inputs["triggers"]) == [revealed(converge.inputs["create"])]
    assert command(plan, "honeydue-k3s-agent-1-settle").urn in command(plan, "honeydue-k3s-agent-2-drain").dependencies


def _effective_inputs(plan: Plan) -> dict[str, Any]:
    return {r.urn: {k: v for k, v in r.inputs.items() if k not in r.ignore_changes} for r in plan.registrations}


def test_a_version_bump_reaches_the_agents_through_their_day_2_steps_only() -> None:
    previous = {"k3sVersion": "v1.34.6+k3s1"}
    before = run_program("prod", {"agentCount": 2, "kubeProxyMode": "iptables"}, previous_outputs=previous)
    after = run_program(
        "prod", {"agentCount": 2, "kubeProxyMode": "iptables", "k3sVersion": "v1.35.2+k3s1"}, previous_outputs=previous
    )
    old, new = _effective_inputs(before), _effective_inputs(after)
    assert old.keys() == new.keys()
    changed = sorted(urn.rsplit("::", 1)[1] for urn in old if old[urn] != new[urn])
    agent_steps = [f"honeydue-k3s-agent-{n}-{s}" for n in (1, 2) for s in ("converge", "drain", "settle")]
    assert changed == sorted([f"honeydue-k3s-{i}-converge" for i in (1, 2, 3)] + agent_steps)


# --- removal -------------------------------------------------------------------------------------------


def test_removing_an_agent_drains_it_from_server_1_before_its_server_goes(plan: Plan) -> None:
    for n in (1, 2):
        agent = plan.get(SERVER, f"honeydue-agent-{n}")
        remove, uninstall = (command(plan, f"honeydue-k3s-agent-{n}-{s}") for s in ("leave", "wipe"))
        for reg, script in ((remove, "agent-remove.sh"), (uninstall, "agent-uninstall.sh")):
            assert set(reg.inputs) >= {"delete"} and "create" not in reg.inputs and "update" not in reg.inputs
            assert reg.ignore_changes == ()  # an edit updates the text and runs nothing
            assert f"{script} [%s]" in revealed(reg.inputs["delete"])
            # Replaced with the agent's server: a new server first removes the old node (steps.leave_step).
            assert reg.inputs["triggers"] == [agent.id]
        # Deleted in reverse: leave (drain + delete node, on server 1), then wipe (uninstall, on the agent),
        # then the agent's server.
        assert plan.waits_for(remove, uninstall) and plan.waits_for(uninstall, agent)
        assert not plan.waits_for(uninstall, remove)
        # On a full destroy server 1 still serves the API while the agents are removed.
        assert command(plan, "honeydue-k3s-1-leave").urn in remove.dependencies
        # The steps of these names from before `triggers` stay, inert: no text, never deleted for real.
        for legacy in ("remove", "uninstall"):
            reg = command(plan, f"honeydue-k3s-agent-{n}-{legacy}")
            assert not {"create", "update", "delete", "triggers"} & set(reg.inputs)
            assert reg.retain_on_delete and reg.ignore_changes == ("delete",)


# --- edge and firewall ---------------------------------------------------------------------------------


def test_agents_are_not_in_dns(plan: Plan, prod_plan: Plan) -> None:
    records = plan.by_type("cloudflare:index/dnsRecord:DnsRecord")
    agent_addresses = {a for agent in plan.outputs["agents"].values() for a in (agent["ipv4"], agent["ipv6"])}
    assert records and not [r.name for r in records if "agent" in r.name]
    assert not [r.name for r in records if r.inputs["content"] in agent_addresses]
    assert sorted(r.name for r in records) == sorted(
        r.name for r in prod_plan.by_type("cloudflare:index/dnsRecord:DnsRecord")
    )


def test_the_firewall_reaches_the_agents_too(plan: Plan) -> None:
    for n in (1, 2):
        sync = command(plan, f"honeydue-firewall-sync-agent-{n}")
        assert host_of(sync) == rekeyed_host_key(plan, f"honeydue-k3s-agent-{n}-rekey")
        assert command(plan, f"honeydue-k3s-agent-{n}-rekey").urn in sync.dependencies
    names = [r.name for r in plan.by_type(COMMAND) if re.fullmatch(r"honeydue-firewall-sync-\d+", r.name)]
    assert sorted(names) == ["honeydue-firewall-sync-1", "honeydue-firewall-sync-2", "honeydue-firewall-sync-3"]


def test_the_plan_shows_every_agent_step_and_holds_no_secret(plan: Plan, tmp_path: Path) -> None:
    write_plan(plan, tmp_path, render_graph=False)
    nodes = tmp_path / "nodes"
    for n in (1, 2):
        assert (nodes / f"honeydue-agent-{n}" / "cloud-init.yaml").is_file()
        for step, verb in (("install", "create"), ("ready", "create"), ("leave", "delete"), ("wipe", "delete")):
            assert (nodes / "commands" / f"honeydue-k3s-agent-{n}-{step}.{verb}.sh").is_file()
    for path in tmp_path.rglob("*"):
        if path.is_file():
            text = path.read_text()
            assert "PLACEHOLDER" not in text, path
            assert not [s for s in plan.known_secrets if s in text], path


def test_every_remote_command_is_bounded(plan: Plan, prod_plan: Plan) -> None:
    """Issue 11 item 8: every connection dials forever (dialErrorLimit -1), so every remote command carries
    custom timeouts for create, update and delete: the engine hands them to the provider, whose context they
    cancel (pulumi-go-provider v1.3.0 middleware/cancel), which stops the dialing (pulumi-command v1.2.1
    remote/connection.go, retry.Until(ctx)). A running session ignores that context, so every text also
    bounds its script on the node (`timeout ... bash "$run"`)."""
    for p in (plan, prod_plan):
        commands = p.by_type(COMMAND)
        assert {r.name for r in commands} >= {"honeydue-firewall-sync-1", "honeydue-k3s-kubeconfig"}
        for reg in commands:
            assert set(reg.custom_timeouts) == {"create", "update", "delete"}, reg.name
            assert revealed(reg.inputs["connection"])["dialErrorLimit"] == -1
            for step in ("create", "update", "delete"):
                # A first-boot step's `update` is a bare echo (components/k3s/steps.py NO_REPLAY): nothing to bound.
                # A protected node's leave step only refuses (steps.refuse_to_leave): echo, exit 1.
                text = reg.inputs.get(step)
                if text is not None and text != NO_REPLAY and not str(text).startswith(LEAVE_REFUSED):
                    assert re.search(r'\ntimeout -k 30 \d+ bash "\$run" </dev/null', text), reg.name
