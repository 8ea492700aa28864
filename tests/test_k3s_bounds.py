"""Issue 11 item 8 on the node: the K3s scripts run for real against tests/fakes_k3s/.

- every kubectl call is bounded (--request-timeout), so a hung API server fails a step instead of holding it;
- readiness reads kubectl's stdout only, so warnings on stderr never make a Ready node look NotReady;
- install, upgrade and converge hold the node's lock: two runs never drain, install or restart together;
- a server drains or restarts itself only while the other etcd members are Ready and not cordoned;
- an install killed after the installer placed the binary is completed by the next run.

Issue 13 item 4 (the token on stdin, never on a command line) is tests/test_k3s_stdin.py.

The fixtures and helpers are test_k3s_scripts.py's.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from components.k3s.node import node_files, secrets_yaml
from components.k3s.scripts import SCRIPTS_DIR, converge_files, script_command
from tests import test_k3s_scripts as base
from tests.test_k3s_scripts import NEW, OLD, TOKEN, Node, installed_node, settings

pytestmark = base.pytestmark
make_node = base.make_node  # the fixture

DONE = "var/lib/honeydue/k3s-install.done"
PENDING = "var/lib/honeydue/k3s-install.pending"


def kubectl_calls(node: Node) -> list[str]:
    return [c for c in node.calls() if c.startswith("kubectl ")]


# --- every kubectl call is bounded --------------------------------------------------------------------


def test_every_kubectl_call_in_the_scripts_goes_through_a_bounded_helper() -> None:
    """lib.sh's `kube`, or a call that sets --request-timeout itself on the same line (deployer-kubeconfig.sh
    talks to the API with K3s's admin kubeconfig, before the deployer exists)."""
    for path in SCRIPTS_DIR.glob("*.sh"):
        code = [line for line in path.read_text().splitlines() if not line.lstrip().startswith("#")]
        for line in code:
            # A message naming a command for the operator runs nothing.
            if "kubectl" in line and not line.lstrip().startswith(("die ", "say ")):
                bounded = (
                    line.strip().startswith('k3s kubectl "$@" ') and '--request-timeout="$request_timeout"' in line
                    if path.name == "lib.sh"
                    else ("k3s kubectl --kubeconfig" in line and "--request-timeout=" in line)
                )
                assert bounded, (path.name, line)


@pytest.mark.parametrize("script", ["wait-ready", "remove", "upgrade"])
def test_a_hung_api_server_fails_the_step_instead_of_holding_it(make_node: Callable[..., Node], script: str) -> None:
    """The fake answers a call without --request-timeout never (as a wedged API server); Node.run's 15 s bound
    would fail the test."""
    node = installed_node(make_node, settings(version=OLD, ready_timeout=1))
    node.configure(settings(version=NEW, ready_timeout=1))
    node.set("hang")

    err = node.run(script, expect_rc=1).stderr

    assert "Client.Timeout exceeded" in err or "cannot ask the API server" in err, err
    assert "kubectl hung: no --request-timeout" not in node.calls()
    assert kubectl_calls(node) and all("--request-timeout=30s" in c for c in kubectl_calls(node))


def test_an_upgrade_bounds_every_kubectl_call(make_node: Callable[..., Node]) -> None:
    node = installed_node(make_node, settings(version=OLD))
    node.configure(settings(version=NEW))

    node.run("upgrade")

    verbs = {c.split()[1] for c in kubectl_calls(node)}
    assert verbs == {"cordon", "drain", "get", "uncordon"}
    assert all(c.endswith(" --request-timeout=30s") for c in kubectl_calls(node)), kubectl_calls(node)


# --- readiness reads stdout only ----------------------------------------------------------------------


def test_stderr_noise_does_not_make_a_ready_node_look_not_ready(make_node: Callable[..., Node]) -> None:
    node = installed_node(make_node, settings(ready_timeout=2))
    node.set("stderr_noise")
    # The noise is real: a pipe-separated first line that, merged into stdout, would parse as NotReady.
    probe = subprocess.run(
        ["kubectl", "get", "node", "honeydue-2", "-o", "jsonpath=x"], env=node.env, capture_output=True, text=True
    )
    assert probe.stderr.startswith("W1130") and "|False|" in probe.stderr

    out = node.run("wait-ready").stdout

    assert f"node honeydue-2 is Ready (kubelet {NEW})" in out
    assert node.count("kubectl get node honeydue-2") == 2  # the probe and one poll: Ready at once


def test_stderr_of_a_failed_poll_is_still_reported(make_node: Callable[..., Node]) -> None:
    node = installed_node(make_node, settings(ready_timeout=1))
    node.set("api_down")
    node.set("stderr_noise")

    err = node.run("wait-ready", expect_rc=1).stderr

    assert "last seen: The connection to the server 127.0.0.1:6443 was refused" in err
    assert not list(Path(node.env["TMPDIR"]).iterdir())  # the stderr capture file is removed


def test_noise_on_every_poll_until_ready(make_node: Callable[..., Node]) -> None:
    node = installed_node(make_node, settings())
    node.set("stderr_noise")
    node.set("ready_after", "2")

    out = node.run("wait-ready").stdout

    assert "is Ready" in out and node.count("kubectl get node") == 3


# --- the node lock ------------------------------------------------------------------------------------


def _converge_process(node: Node, s_version: str) -> subprocess.Popen[str]:
    s = settings(version=s_version, lock_timeout=20)
    command = script_command("converge", [*node_files(s), *converge_files()])
    stdin = Path(node.env["HOME"]) / f"stdin-{uuid.uuid4().hex}"
    stdin.write_text(secrets_yaml(s, TOKEN))
    with stdin.open() as source:
        return subprocess.Popen(
            ["sh", "-c", command],
            env=node.env,
            stdin=source,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )


def _wait_for_call(node: Node, prefix: str, seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while not any(c.startswith(prefix) for c in node.calls()):
        assert time.monotonic() < deadline, f"no {prefix!r} in {node.calls()}"
        time.sleep(0.05)


def test_two_concurrent_converges_never_overlap(make_node: Callable[..., Node]) -> None:
    """A second run (a cancelled `up`'s step still on the node, then a new `up`) waits, then finds nothing to do."""
    node = installed_node(make_node, settings(version=OLD))
    node.set("drain_seconds", "1")

    first = _converge_process(node, NEW)
    _wait_for_call(node, "kubectl drain")
    second = _converge_process(node, NEW)
    _, err_1 = first.communicate(timeout=30)
    out_2, err_2 = second.communicate(timeout=30)

    assert first.returncode == 0, err_1
    assert second.returncode == 0, err_2
    assert "waiting for the node lock (held by: converge.sh pid" in out_2
    assert "nothing to do" in out_2
    assert node.count("installer") == node.count("kubectl drain") == node.count("kubectl cordon") == 1
    assert node.version() == NEW and not (node.state / "cordoned").exists()


def test_a_step_gives_up_on_the_lock_naming_its_holder(make_node: Callable[..., Node]) -> None:
    node = installed_node(make_node, settings(version=OLD))
    node.set("drain_seconds", "3")
    first = _converge_process(node, NEW)
    _wait_for_call(node, "kubectl drain")
    node.configure(settings(version=NEW, lock_timeout=1))

    err = node.run("install", expect_rc=1).stderr

    assert re.search(r"another step still holds the node lock after 1s \(held by: converge\.sh pid \d+ since ", err)
    assert first.wait(timeout=30) == 0
    assert node.count("installer") == 1


def _kill_session(sid: int) -> None:
    """SIGKILL every process of the session (the step's `timeout` puts the script in a process group of its
    own, so killing the shell's group alone would leave it running, as a dropped SSH session does). Repeated
    until none is left: a process may fork between the listing and the kill."""
    deadline = time.monotonic() + 10
    while True:
        found = 0
        for proc_dir in Path("/proc").glob("[0-9]*"):
            try:
                pid = int(proc_dir.name)
                zombie = (proc_dir / "stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
                if not zombie and os.getsid(pid) == sid:
                    found += 1
                    os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError, FileNotFoundError):
                continue
        if not found:
            return
        assert time.monotonic() < deadline, f"session {sid} survives SIGKILL"
        time.sleep(0.05)


def test_a_killed_holder_releases_the_lock(make_node: Callable[..., Node]) -> None:
    node = installed_node(make_node, settings(version=OLD))
    node.set("drain_seconds", "60")
    first = _converge_process(node, NEW)
    _wait_for_call(node, "kubectl drain")
    _kill_session(first.pid)
    first.wait(timeout=10)
    (node.state / "drain_seconds").unlink()

    started = time.monotonic()
    second = _converge_process(node, NEW)
    _, err = second.communicate(timeout=30)

    assert second.returncode == 0, err
    assert time.monotonic() - started < 10
    assert node.version() == NEW and node.count("installer") == 1


def test_server_1_steps_for_an_agent_hold_the_agents_lock_not_the_nodes() -> None:
    for name, lock in [("agent-drain", "agent"), ("agent-ready", "agent"), ("agent-remove", "agent")]:
        assert f'\nhold_lock {lock}-"$NODE_NAME"\n' in (SCRIPTS_DIR / f"{name}.sh").read_text(), name
    for name in ("install", "upgrade", "converge", "remove", "agent-uninstall"):
        assert "\nhold_lock node\n" in (SCRIPTS_DIR / f"{name}.sh").read_text(), name


# --- across servers: never a second etcd member down ---------------------------------------------------


@pytest.mark.parametrize(
    ("peer", "why"),
    [("honeydue-3||False", "honeydue-3 (not Ready)"), ("honeydue-1|true|True", "honeydue-1 (cordoned)")],
)
def test_an_upgrade_waits_for_busy_etcd_peers_then_gives_up_changing_nothing(
    make_node: Callable[..., Node], peer: str, why: str
) -> None:
    """A step left running on another server (or a server down) holds this server's upgrade back."""
    node = installed_node(make_node, settings(version=OLD))
    node.configure(settings(version=NEW, lock_timeout=1))
    # Its own line (cordoned, as during its own upgrade) never counts.
    node.set("etcd_peers", f"honeydue-2|true|True\n{peer}\n")

    proc = node.run("upgrade", expect_rc=1)

    assert f"waiting for the other etcd members: {why}" in proc.stdout
    assert f"other etcd members are busy after 1s: {why}; taking honeydue-2 down too" in proc.stderr
    assert "kubectl get nodes -l node-role.kubernetes.io/etcd=true" in " ".join(node.calls())
    assert node.count("kubectl cordon") == node.count("installer") == 0 and node.version() == OLD


def test_a_config_restart_waits_until_the_peers_are_back(make_node: Callable[..., Node]) -> None:
    node = installed_node(make_node, settings(lock_timeout=20, poll_interval=0.2))
    node.configure(settings(tls_sans=("10.0.1.3", "k8s.example.test"), lock_timeout=20, poll_interval=0.2))
    node.set("etcd_peers", "honeydue-1||True\nhoneydue-3||Unknown\n")
    proc = subprocess.Popen(
        ["bash", str(SCRIPTS_DIR / "install.sh")],
        env=node.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    _wait_for_call(node, "kubectl get nodes")
    time.sleep(0.5)
    assert node.count("systemctl restart") == 0  # held back while honeydue-3 is not Ready
    node.set("etcd_peers", "honeydue-1||True\nhoneydue-3||True\n")

    out, err = proc.communicate(timeout=30)

    assert proc.returncode == 0, err
    assert "waiting for the other etcd members: honeydue-3 (not Ready)" in out and "config changed" in out
    assert node.count("systemctl restart k3s") == 1


def test_agents_do_not_ask_for_peers(make_node: Callable[..., Node]) -> None:
    agent = settings(role="agent", node_name="honeydue-agent-1", tls_sans=(), lock_timeout=1)
    node = installed_node(make_node, agent)
    node.configure(settings(role="agent", node_name="honeydue-agent-1", tls_sans=(), kube_proxy_mode="nftables"))
    node.set("etcd_peers", "honeydue-3||False\n")
    node.run("install")  # an agent has no API to ask, and is no etcd member
    assert node.count("kubectl") == 0 and node.count("systemctl restart k3s-agent") == 1


def test_a_silent_api_does_not_block_a_config_restart(make_node: Callable[..., Node]) -> None:
    server = installed_node(make_node, settings())
    server.configure(settings(tls_sans=("k8s.example.test",)))
    server.set("api_down")
    assert "going on without the check" in server.run("install").stdout


# --- an install killed half-way is completed ----------------------------------------------------------


def test_an_install_killed_after_the_binary_is_rerun(make_node: Callable[..., Node]) -> None:
    node = make_node()
    node.set("installer_killed")

    node.run("install", expect_rc=-signal.SIGKILL)

    # The binary reports the release, but the rest of the install is missing.
    assert node.version() == NEW and not (Path(node.env["FAKE_INSTALL_BIN"]) / "k3s-uninstall.sh").exists()
    assert (node.root / PENDING).exists() and not (node.root / DONE).exists()

    (node.state / "installer_killed").unlink()
    node.clear_calls()
    out = node.run("install").stdout

    assert "did not finish (killed after placing the binary?): running the installer again" in out
    assert node.count("installer") == 1 and node.count("systemctl restart k3s") == 1
    assert (Path(node.env["FAKE_INSTALL_BIN"]) / "k3s-uninstall.sh").exists()
    assert not (node.root / PENDING).exists()
    assert (node.root / DONE).read_text().startswith(f"{NEW} ")
    node.clear_calls()
    assert "nothing to do" in node.run("install").stdout and node.count("installer") == 0


def test_an_upgrade_killed_after_the_binary_is_finished_by_the_next_run(make_node: Callable[..., Node]) -> None:
    node = installed_node(make_node, settings(version=OLD))
    node.configure(settings(version=NEW))
    node.set("installer_killed")
    node.run("upgrade", expect_rc=-signal.SIGKILL)
    assert node.version() == NEW and (node.state / "cordoned").exists()

    (node.state / "installer_killed").unlink()
    node.clear_calls()
    out = node.run("upgrade").stdout

    assert "finishing the upgrade" in out and "running the installer again" in out
    assert node.count("installer") == 1 and node.count("kubectl drain") == 0
    assert not (node.state / "cordoned").exists() and not (node.root / PENDING).exists()


def test_a_replaced_binary_is_reinstalled_and_a_node_without_markers_is_left_alone(
    make_node: Callable[..., Node],
) -> None:
    node = installed_node(make_node, settings())
    binary = Path(node.env["FAKE_INSTALL_BIN"]) / "k3s"
    binary.write_text(binary.read_text() + "# changed\n")

    assert "did not finish" in node.run("install").stdout and node.count("installer") == 1

    # Installed before the markers existed: complete, nothing re-run.
    (node.root / DONE).unlink()
    node.clear_calls()
    assert "nothing to do" in node.run("install").stdout and node.count("installer") == 0
