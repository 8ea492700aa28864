"""Issue 23 item 1: kured reboots a server only when etcd keeps its quorum, and kured and the stack's own
steps take one lock.

scripts/k3s/reboot-check.sh (kured's sentinel command) and lib.sh's take_reboot_lock run for real against
the fake kubectl of tests/fakes_k3s, whose state holds the etcd members' Nodes (etcd_peers) and kured's
DaemonSet with its lock annotation (kured_ds, kured_lock, kured_version). The lock's JSON is kured
1.22.1's (pkg/daemonsetlock LockAnnotationValue), so a lock this module writes is one kured reads.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from components.k3s.scripts import STEP_TIME_LIMIT
from tests import test_k3s_scripts as base
from tests.test_k3s_scripts import NEW, OLD, SCRIPTS, Node, installed_node, settings

make_node = base.make_node  # the fixture

SELF = "honeydue-2|false|True"
SERVICE = {"KUBERNETES_SERVICE_HOST": "10.43.0.1", "KUBERNETES_SERVICE_PORT": "443"}


def check(node: Node, expect_rc: int) -> subprocess.CompletedProcess[str]:
    """reboot-check.sh as kured runs it: with the pod's environment (its Service variables)."""
    proc = subprocess.run(
        ["bash", str(SCRIPTS / "reboot-check.sh")],
        env=node.env | SERVICE,
        capture_output=True,
        text=True,
        timeout=15,
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == expect_rc, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc


def needs_reboot(node: Node) -> None:
    sentinel = node.root / "var/run/reboot-required"
    sentinel.parent.mkdir(parents=True, exist_ok=True)
    sentinel.write_text("*** System restart required ***\n")


def lock(holder: str, *, age: timedelta = timedelta(0), ttl: timedelta = timedelta(0)) -> str:
    created = (datetime.now(UTC) - age).strftime("%Y-%m-%dT%H:%M:%S.%f123Z")  # nine digits, as Go writes
    ttl_ns = int(ttl.total_seconds()) * 1_000_000_000
    return json.dumps({"nodeID": holder, "metadata": {"unschedulable": False}, "created": created, "TTL": ttl_ns})


# --- the sentinel command -------------------------------------------------------------------------------


def test_no_sentinel_means_no_reboot_and_no_question_to_the_api(make_node: Callable[..., Node]) -> None:
    node = installed_node(make_node, settings())
    check(node, 1)
    assert node.count("kubectl") == 0


def test_a_server_reboots_when_the_others_are_ready_asking_through_the_service(
    make_node: Callable[..., Node],
) -> None:
    node = installed_node(make_node, settings())
    needs_reboot(node)
    node.set("etcd_peers", f"honeydue-1|false|True\n{SELF}\nhoneydue-3||True\n")
    out = check(node, 0).stdout
    assert "2 other etcd member(s) of 3 Ready and schedulable" in out
    # In kured's pod the kubeconfig's 127.0.0.1:6443 is the pod's own loopback: the Service is asked.
    (call,) = [c for c in node.calls() if c.startswith("kubectl get nodes")]
    assert "--server=https://10.43.0.1:443" in call and "--request-timeout=" in call


@pytest.mark.parametrize(
    ("members", "why"),
    [
        (f"honeydue-1||True\n{SELF}\nhoneydue-3||False\n", "other etcd members are busy: honeydue-3(not-Ready)"),
        (f"honeydue-1||Unknown\n{SELF}\nhoneydue-3||True\n", "other etcd members are busy: honeydue-1(not-Ready)"),
        (f"honeydue-1|true|True\n{SELF}\nhoneydue-3||True\n", "other etcd members are busy: honeydue-1(cordoned)"),
        # A replacement's window: two members left, one of them down is no majority.
        (f"honeydue-1||True\n{SELF}\n", "1 of 2 etcd members would stay up: not a majority"),
        # The label missing from this node (or a list cut short): nothing to count with.
        ("honeydue-1||True\nhoneydue-3||True\n", "honeydue-2 is not among the etcd members the API lists (2)"),
    ],
)
def test_a_server_does_not_reboot_when_etcd_would_lose_its_quorum(
    make_node: Callable[..., Node], members: str, why: str
) -> None:
    node = installed_node(make_node, settings())
    needs_reboot(node)
    node.set("etcd_peers", members)
    proc = check(node, 2)  # not 1: kured logs the output of any other exit code
    assert f"reboot required but not now: {why}" in proc.stderr


def test_a_broken_check_is_logged_as_not_now_never_as_no_reboot_needed(make_node: Callable[..., Node]) -> None:
    """kured logs the output of any exit code but 1 ("no reboot needed"): a node whose check cannot run (its
    env file gone, lib.sh missing) must say so in kured's log instead of never rebooting in silence."""
    node = installed_node(make_node, settings())
    needs_reboot(node)
    (node.root / "etc/honeydue/k3s.env").unlink()
    assert "k3s.env is missing" in check(node, 2).stderr


def test_an_unreadable_lock_is_held_never_taken_over(make_node: Callable[..., Node]) -> None:
    node = installed_node(make_node, settings())
    node.configure(settings(tls_sans=("k8s.example.test",), lock_timeout=1))
    node.set("kured_ds")
    for value in ('{"nodeID": "honeydue-3", "created": 5, "TTL": 1}', "not json"):
        node.set("kured_lock", value)
        assert "still held by an-unreadable-lock" in node.run("install", expect_rc=1).stderr


def test_a_silent_api_means_no_reboot(make_node: Callable[..., Node]) -> None:
    node = installed_node(make_node, settings())
    needs_reboot(node)
    node.set("api_down")
    assert "cannot list the etcd members (The connection to the server" in check(node, 2).stderr


def test_a_single_server_and_an_agent_reboot_on_the_sentinel_alone(make_node: Callable[..., Node]) -> None:
    server = installed_node(make_node, settings(role="init", node_name="honeydue-1"))
    needs_reboot(server)
    server.set("etcd_peers", "honeydue-1||True\n")
    check(server, 0)


def test_an_agent_reboots_without_asking(make_node: Callable[..., Node]) -> None:
    agent = settings(role="agent", node_name="honeydue-agent-1", tls_sans=())
    node = installed_node(make_node, agent)
    needs_reboot(node)
    assert "an agent" in check(node, 0).stdout and node.count("kubectl") == 0


# --- the stack's steps take kured's lock ----------------------------------------------------------------


def test_a_config_restart_holds_kureds_lock_until_the_server_is_ready(make_node: Callable[..., Node]) -> None:
    node = installed_node(make_node, settings())
    node.configure(settings(tls_sans=("10.0.1.3", "k8s.example.test")))
    node.set("kured_ds")

    out = node.run("install").stdout

    (taken,) = (node.state / "kured_lock.history").read_text().splitlines()
    value = json.loads(taken)
    # It outlives the step that holds it: the node-side time limit of every step.
    assert value["nodeID"] == "pulumi:honeydue-2" and value["TTL"] == STEP_TIME_LIMIT * 1_000_000_000
    datetime.fromisoformat(value["created"].replace("Z", "+00:00"))  # a time kured's json.Unmarshal reads
    calls = node.calls()
    annotate = [i for i, c in enumerate(calls) if c.startswith("kubectl annotate daemonset kured")]
    restart = node.index("systemctl restart k3s")
    ready = max(i for i, c in enumerate(calls) if c.startswith("kubectl get node honeydue-2"))
    assert annotate[0] < restart < ready < annotate[1]  # taken, restart, Ready, released
    assert not (node.state / "kured_lock").exists() and "released kured's reboot lock" in out


def test_an_upgrade_waits_for_kureds_reboot_then_gives_up_changing_nothing(make_node: Callable[..., Node]) -> None:
    node = installed_node(make_node, settings(version=OLD))
    node.configure(settings(version=NEW, lock_timeout=1))
    node.set("kured_ds")
    held = lock("honeydue-3")  # kured's own: TTL 0, never expires
    node.set("kured_lock", held)

    proc = node.run("upgrade", expect_rc=1)

    assert "waiting for kured's reboot lock, held by honeydue-3" in proc.stdout
    assert "kured's reboot lock is still held by honeydue-3 after 1s" in proc.stderr
    assert node.count("kubectl cordon") == node.count("installer") == 0 and node.version() == OLD
    assert (node.state / "kured_lock").read_text() == held  # never touched


def test_a_lock_taken_by_hand_never_expires(make_node: Callable[..., Node]) -> None:
    """The runbook's hold: kubectl annotate ds kured weave.works/kured-node-lock='{"nodeID":"manual"}'."""
    node = installed_node(make_node, settings())
    node.configure(settings(tls_sans=("k8s.example.test",), lock_timeout=1))
    node.set("kured_ds")
    node.set("kured_lock", '{"nodeID":"manual"}')
    assert "still held by manual" in node.run("install", expect_rc=1).stderr
    assert node.count("systemctl restart") == 0


def test_an_expired_lock_of_a_killed_step_is_taken_over(make_node: Callable[..., Node]) -> None:
    node = installed_node(make_node, settings(version=OLD))
    node.configure(settings(version=NEW))
    node.set("kured_ds")
    node.set("kured_lock", lock("pulumi:honeydue-1", age=timedelta(hours=1), ttl=timedelta(minutes=30)))

    node.run("upgrade")

    history = (node.state / "kured_lock.history").read_text().splitlines()
    assert [json.loads(v)["nodeID"] for v in history] == ["pulumi:honeydue-2"]
    assert node.version() == NEW and not (node.state / "kured_lock").exists()


def test_a_server_leaving_the_cluster_takes_the_lock_before_its_drain(make_node: Callable[..., Node]) -> None:
    node = installed_node(make_node, settings())
    node.set("kured_ds")
    out = node.run("remove").stdout
    assert node.index("kubectl annotate daemonset kured") < node.index("kubectl drain")
    # Its member and the local API are gone: the lock waits for its TTL, and the step says so.
    assert f"it expires {STEP_TIME_LIMIT}s after it was taken" in out


def test_without_kured_the_steps_go_on(make_node: Callable[..., Node]) -> None:
    node = installed_node(make_node, settings(version=OLD))
    node.configure(settings(version=NEW))
    assert "kured is not installed: no reboot lock to take" in node.run("upgrade").stdout
    assert node.version() == NEW
