"""The agent's K3s scripts executed for real with bash, in a throwaway root, against the fakes of tests/fakes_k3s/.

On the agent: install.sh and converge.sh as role agent (INSTALL_K3S_EXEC=agent, unit k3s-agent, no API),
agent-uninstall.sh. On server 1, for an agent (it has no admin kubeconfig): agent-ready.sh, agent-drain.sh,
agent-remove.sh, which read the agent's env file named by HONEYDUE_ENV_FILE. The fixtures and helpers are
test_k3s_scripts.py's.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from components.k3s.node import K3sNodeSettings, node_env
from components.k3s.scripts import script_command
from components.remote import RemoteFile
from tests import test_k3s_scripts as base
from tests.test_k3s_scripts import NEW, OLD, Node, _converge, installed_node, settings

pytestmark = base.pytestmark
make_node = base.make_node  # the fixture


# --- agents: on the agent itself -----------------------------------------------------------------------
#
# The fake systemctl knows only the unit the fake installer installed (k3s-agent for INSTALL_K3S_EXEC=agent,
# as the official installer names it) and fails for any other, so a script that restarted `k3s` on an
# agent would fail here.


def agent_settings(**overrides: Any) -> K3sNodeSettings:
    """Agent 1, joining server 1; the fake NIC holds its node_ip."""
    return settings(**({"role": "agent", "node_name": "honeydue-agent-1", "tls_sans": ()} | overrides))


def test_agent_install_uses_the_agent_command_and_unit(make_node: Callable[..., Node]) -> None:
    node = make_node(agent_settings())

    out = node.run("install").stdout

    assert f"installer INSTALL_K3S_VERSION={NEW} INSTALL_K3S_EXEC=agent INSTALL_K3S_SKIP_START=true" in node.calls()
    assert node.calls().count("systemctl restart k3s-agent") == 1
    assert "systemctl restart k3s" not in node.calls()
    assert (node.state / "unit").read_text().strip() == "k3s-agent" and (node.state / "active").exists()
    assert (Path(node.env["FAKE_INSTALL_BIN"]) / "k3s-agent-uninstall.sh").exists()
    dropin = node.root / "etc/rancher/k3s/config.yaml.d/10-flannel-iface.yaml"
    assert dropin.read_text() == "flannel-iface: enp7s0\n"
    assert "started (flannel-iface enp7s0)" in out


def test_agent_install_second_run_changes_nothing(make_node: Callable[..., Node]) -> None:
    node = installed_node(make_node, agent_settings())

    out = node.run("install").stdout

    assert "nothing to do" in out
    assert "systemctl is-active --quiet k3s-agent" in node.calls()
    assert not [c for c in node.calls() if c.split()[0] in ("curl", "installer") or "restart" in c], node.calls()


def test_agent_install_restarts_k3s_agent_on_a_config_change_or_when_stopped(make_node: Callable[..., Node]) -> None:
    node = installed_node(make_node, agent_settings())
    node.configure(agent_settings(kube_proxy_mode="nftables"))

    assert "restarting k3s-agent" in node.run("install").stdout
    assert node.calls().count("systemctl restart k3s-agent") == 1 and node.count("installer") == 0

    (node.state / "active").unlink()
    node.clear_calls()
    assert "not running" in node.run("install").stdout
    assert node.calls().count("systemctl restart k3s-agent") == 1


def test_agent_start_failure_names_the_agent_unit(make_node: Callable[..., Node]) -> None:
    node = make_node(agent_settings())
    node.set("start_fails")

    err = node.run("install", expect_rc=1).stderr

    assert "k3s-agent failed to start (systemctl exit 1)" in err
    assert node.count("journalctl -u k3s-agent") == 1


def test_agent_converge_upgrades_without_the_api(make_node: Callable[..., Node]) -> None:
    """An agent has no admin kubeconfig: server 1 drains it before and waits for it after; here only install."""
    node = installed_node(make_node, agent_settings(version=OLD))

    proc = _converge(node, agent_settings(version=NEW))

    assert proc.returncode == 0, proc.stderr
    assert node.version() == NEW
    assert f"installer INSTALL_K3S_VERSION={NEW} INSTALL_K3S_EXEC=agent INSTALL_K3S_SKIP_START=true" in node.calls()
    assert node.calls().count("systemctl restart k3s-agent") == 1
    assert node.count("kubectl") == 0 and node.count("k3s kubectl") == 0

    node.clear_calls()
    proc = _converge(node, agent_settings(version=NEW))
    assert proc.returncode == 0, proc.stderr
    assert not [c for c in node.calls() if c.startswith(("installer", "systemctl restart", "kubectl"))]


def test_agent_converge_applies_a_config_change_without_the_api(make_node: Callable[..., Node]) -> None:
    node = installed_node(make_node, agent_settings())

    proc = _converge(node, agent_settings(kube_proxy_mode="nftables"))

    assert proc.returncode == 0, proc.stderr
    assert node.calls().count("systemctl restart k3s-agent") == 1 and node.count("installer") == 0
    assert node.count("kubectl") == 0


def test_agent_uninstall_is_idempotent(make_node: Callable[..., Node]) -> None:
    node = installed_node(make_node, agent_settings())

    assert "k3s-agent uninstalled" in node.run("agent-uninstall").stdout
    assert node.calls() == ["k3s-agent-uninstall.sh "] and node.version() is None

    node.clear_calls()
    assert "nothing to uninstall" in node.run("agent-uninstall").stdout
    assert node.calls() == []


def test_agent_scripts_and_server_scripts_refuse_the_other_role(make_node: Callable[..., Node]) -> None:
    node = installed_node(make_node, agent_settings())
    assert "is an agent: server 1 drains and deletes it" in node.run("remove", expect_rc=1).stderr
    node.configure(settings())
    assert "is not an agent" in node.run("agent-uninstall", expect_rc=1).stderr
    assert node.count("kubectl") == node.count("k3s-agent-uninstall.sh") == 0


# --- agents: what server 1 runs for them ---------------------------------------------------------------

AGENT_ENV = "/etc/honeydue/agents/honeydue-agent-1.env"


def server_1_for_agent(make_node: Callable[..., Node], kubelet: str = NEW, **agent: Any) -> Node:
    """Server 1 with K3s running, and the agent's env file where the remote command writes it.

    The fake kubectl answers for the agent's node; `agent_node` keeps its API up when that node is deleted.
    """
    node = installed_node(make_node, settings(role="init", node_name="honeydue-1"))
    env_file = node.root / AGENT_ENV.lstrip("/")
    env_file.parent.mkdir(parents=True)
    env_file.write_text(node_env(agent_settings(**agent)))
    node.env["HONEYDUE_ENV_FILE"] = AGENT_ENV
    node.set("agent_node")
    node.set("kubelet_version", kubelet)
    return node


def own_env(node: Node) -> bytes:
    return (node.root / "etc/honeydue/k3s.env").read_bytes()


def test_agent_ready_polls_from_server_1(make_node: Callable[..., Node]) -> None:
    node = server_1_for_agent(make_node, ready_timeout=5)
    node.set("ready_after", "2")
    before = own_env(node)

    out = node.run("agent-ready").stdout

    assert node.count("kubectl get node honeydue-agent-1") == 3
    assert f"node honeydue-agent-1 is Ready (kubelet {NEW})" in out
    assert node.count("kubectl uncordon") == 0  # nothing this program cordoned
    assert own_env(node) == before


def test_agent_ready_times_out_naming_the_agent(make_node: Callable[..., Node]) -> None:
    node = server_1_for_agent(make_node, ready_timeout=1)
    node.set("ready_after", "never")

    err = node.run("agent-ready", expect_rc=1).stderr

    assert "node honeydue-agent-1 not Ready after 1s; last seen: kubelet" in err


def test_agent_drain_is_a_noop_when_the_agent_runs_the_release(make_node: Callable[..., Node]) -> None:
    node = server_1_for_agent(make_node, kubelet=NEW)

    assert "runs v1.34.6+k3s1: nothing to drain" in node.run("agent-drain").stdout
    assert node.count("kubectl cordon") == node.count("kubectl drain") == 0
    node.set("node_absent")
    assert "not in the cluster: nothing to drain" in node.run("agent-drain").stdout


def test_agent_upgrade_from_server_1_drains_then_waits_for_the_release_then_uncordons(
    make_node: Callable[..., Node],
) -> None:
    node = server_1_for_agent(make_node, kubelet=OLD, ready_timeout=1)
    marker = node.root / "var/lib/honeydue/agents/honeydue-agent-1.upgrade"

    node.run("agent-drain")

    positions = [node.index(step) for step in ("kubectl cordon honeydue-agent-1", "kubectl drain honeydue-agent-1")]
    assert positions == sorted(positions)
    assert marker.read_text() == f"{OLD} -> {NEW}\n" and (node.state / "cordoned").exists()

    # Still the old kubelet (the agent's converge step has not run): Ready is not enough.
    err = node.run("agent-ready", expect_rc=1).stderr
    assert f"not Ready at {NEW} after 1s; last seen: kubelet {OLD}, Ready=True" in err
    assert (node.state / "cordoned").exists()

    node.set("kubelet_version", NEW)
    node.clear_calls()
    out = node.run("agent-ready").stdout
    assert f"Ready at {NEW} and uncordoned" in out
    assert node.index("kubectl get node") < node.index("kubectl uncordon honeydue-agent-1")
    assert not marker.exists() and not (node.state / "cordoned").exists()


def test_agent_drain_failure_uncordons_and_forgets(make_node: Callable[..., Node]) -> None:
    node = server_1_for_agent(make_node, kubelet=OLD)
    node.set("drain_fails")

    err = node.run("agent-drain", expect_rc=1).stderr

    assert "a PodDisruptionBudget may block it" in err and f"k3s left at {OLD}" in err
    assert node.index("kubectl uncordon") > node.index("kubectl drain")
    assert not (node.root / "var/lib/honeydue/agents/honeydue-agent-1.upgrade").exists()


def test_agent_remove_drains_and_deletes_from_server_1_and_uninstalls_nothing_here(
    make_node: Callable[..., Node],
) -> None:
    node = server_1_for_agent(make_node)
    before = own_env(node)

    out = node.run("agent-remove").stdout

    steps = ["kubectl drain honeydue-agent-1", "kubectl delete node honeydue-agent-1"]
    positions = [node.index(step) for step in steps]
    assert positions == sorted(positions)
    assert "drained and deleted" in out
    # Server 1 keeps its K3s, its API and its own env file; the agent's env file is gone.
    assert node.count("k3s-uninstall.sh") == node.count("k3s-agent-uninstall.sh") == 0
    assert node.version() == NEW and not (node.state / "api_down").exists()
    assert own_env(node) == before and not (node.root / AGENT_ENV.lstrip("/")).exists()

    # A re-run (the update failed later and is retried) finds nothing to do.
    (node.root / AGENT_ENV.lstrip("/")).write_text(node_env(agent_settings()))
    node.clear_calls()
    assert "not in the cluster: nothing to remove" in node.run("agent-remove").stdout
    assert node.count("kubectl drain") == node.count("kubectl delete") == 0


def test_agent_remove_stops_when_the_drain_is_blocked(make_node: Callable[..., Node]) -> None:
    node = server_1_for_agent(make_node)
    node.set("drain_fails")

    assert "nothing removed" in node.run("agent-remove", expect_rc=1).stderr
    assert node.count("kubectl delete") == 0


def test_server_1_steps_for_an_agent_never_act_on_a_server(make_node: Callable[..., Node]) -> None:
    """Pointed at a server's env file (server 1's own), they refuse before asking the API anything."""
    node = server_1_for_agent(make_node)
    node.env["HONEYDUE_ENV_FILE"] = "/etc/honeydue/k3s.env"
    for name in ("agent-ready", "agent-drain", "agent-remove"):
        assert "honeydue-1 is not an agent (ROLE init)" in node.run(name, expect_rc=1).stderr
    assert node.count("kubectl") == 0


@pytest.mark.parametrize("name", ["agent-ready", "agent-drain", "agent-remove"])
def test_server_1_steps_for_an_agent_need_the_env_file_named(make_node: Callable[..., Node], name: str) -> None:
    node = server_1_for_agent(make_node)
    del node.env["HONEYDUE_ENV_FILE"]
    assert "HONEYDUE_ENV_FILE is not set" in node.run(name, expect_rc=1).stderr
    node.env["HONEYDUE_ENV_FILE"] = "/etc/honeydue/agents/honeydue-agent-9.env"
    assert "honeydue-agent-9.env is missing" in node.run(name, expect_rc=1).stderr


def test_agent_remove_through_the_remote_command_on_server_1(make_node: Callable[..., Node]) -> None:
    """The text pulumi-command runs on server 1: the agent's env file written at its own path, then the script."""
    node = server_1_for_agent(make_node)
    del node.env["HONEYDUE_ENV_FILE"]
    (node.root / AGENT_ENV.lstrip("/")).unlink()
    before = own_env(node)
    files = [RemoteFile(AGENT_ENV, "0644", node_env(agent_settings()))]
    command = script_command("agent-remove", files, env_file=AGENT_ENV)

    for expected in ("drained and deleted", "nothing to remove"):
        proc = subprocess.run(["sh", "-c", command], env=node.env, capture_output=True, text=True, timeout=15)
        assert proc.returncode == 0, proc.stderr
        assert expected in proc.stdout

    assert node.count("kubectl delete node honeydue-agent-1") == 1
    assert own_env(node) == before
