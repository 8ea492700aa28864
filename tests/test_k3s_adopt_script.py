"""scripts/k3s/adopt.sh against the fakes, on a "running node": K3s installed by hand at the pinned release,
running, with a config.yaml the earlier manual setup wrote, and no trace of this stack (no recorded checksum).

The step sequence is the one K3sCluster runs on an adopted server: adopt -> install -> converge, each through
the remote command text pulumi-command would run. With the same release and the same config nothing may
restart K3s and the installer may never run.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from components.k3s.node import (
    ENV_PATH,
    SECRETS_PATH,
    K3sNodeSettings,
    k3s_config_yaml,
    node_env,
    node_files,
    secrets_yaml,
)
from components.k3s.scripts import SECRET_SCRIPTS, script_command
from components.remote import RemoteFile
from tests.test_k3s_scripts import NEW, OLD, TOKEN, Node, _converge, make_node, settings

__all__ = ["make_node"]  # the fixture, shared with test_k3s_scripts

pytestmark = pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
CHECKSUM = "var/lib/honeydue/k3s-config.sha256"
MUTATING = ("curl", "installer", "systemctl restart", "systemctl start", "systemctl stop", "kubectl drain")


def running_node(
    make: Callable[..., Node], s: K3sNodeSettings, *, version: str = NEW, config: str | None = None, dropin: bool = True
) -> Node:
    """A node set up by hand: k3s `version` installed and running with `config` (default: the rendered one)."""
    node = make(s)
    installed = Path(node.env["FAKE_INSTALL_BIN"])
    shutil.copy(Path(node.env["FAKE_RELEASE"]) / "k3s", installed / "k3s")
    (installed / "k3s").chmod(0o755)
    node.set("version", version + "\n")
    node.set("running_version", version + "\n")
    node.set("unit", "k3s\n")
    node.set("active")
    k3s_dir = node.root / "etc/rancher/k3s"
    # The stack's layout (docs/migration.md: the hand-built config.yaml is split before adopting): the
    # public settings in config.yaml, the token in the secrets drop-in K3s merges over it.
    (k3s_dir / "config.yaml").write_text(config if config is not None else k3s_config_yaml(s))
    (node.root / SECRETS_PATH.lstrip("/")).parent.mkdir(parents=True, exist_ok=True)
    (node.root / SECRETS_PATH.lstrip("/")).write_text(secrets_yaml(s, TOKEN))
    if dropin:
        (k3s_dir / "config.yaml.d").mkdir(parents=True, exist_ok=True)
        (k3s_dir / "config.yaml.d/10-flannel-iface.yaml").write_text("flannel-iface: enp7s0\n")
    assert not (node.root / CHECKSUM).exists()
    return node


def run_step(
    node: Node, name: str, files: Sequence[RemoteFile], s: K3sNodeSettings | None = None
) -> subprocess.CompletedProcess[str]:
    """One remote step as pulumi-command runs it: its files written (install and converge: the secrets
    drop-in from stdin), then scripts/k3s/<name>.sh."""
    stdin = secrets_yaml(s, TOKEN) if s is not None and name in SECRET_SCRIPTS else None
    return subprocess.run(
        ["sh", "-c", script_command(name, files)], input=stdin, env=node.env, capture_output=True, text=True, timeout=30
    )


def adopt(node: Node, s: K3sNodeSettings) -> subprocess.CompletedProcess[str]:
    return run_step(node, "adopt", [RemoteFile(ENV_PATH, "0644", node_env(s))])


def mutating(node: Node) -> list[str]:
    return [c for c in node.calls() if c.startswith(MUTATING)]


@pytest.mark.parametrize("role", ["init", "join"])
def test_same_release_and_config_adopt_install_and_converge_change_nothing(
    make_node: Callable[..., Node], role: str
) -> None:
    s = settings(role=role, node_name="honeydue-1" if role == "init" else "honeydue-2")
    node = running_node(make_node, s)

    proc = adopt(node, s)
    assert proc.returncode == 0, proc.stderr
    assert f"adopted k3s {NEW}" in proc.stdout
    installed = run_step(node, "install", node_files(s), s)
    assert installed.returncode == 0, installed.stderr
    assert "nothing to do" in installed.stdout
    converged = _converge(node, s)
    assert converged.returncode == 0, converged.stderr

    assert mutating(node) == []
    assert node.version() == NEW and (node.state / "active").exists()


def test_without_the_adopt_step_the_same_node_would_restart(make_node: Callable[..., Node]) -> None:
    """Why the step exists: install.sh alone has no recorded checksum to compare with."""
    s = settings()
    node = running_node(make_node, s)

    proc = run_step(node, "install", node_files(s), s)

    assert proc.returncode == 0, proc.stderr
    assert node.count("systemctl restart k3s") == 1


def test_a_config_written_otherwise_restarts_k3s_once_and_never_reinstalls(make_node: Callable[..., Node]) -> None:
    s = settings()
    by_hand = k3s_config_yaml(settings(tls_sans=("10.0.1.3",)))
    node = running_node(make_node, s, config=by_hand)

    assert adopt(node, s).returncode == 0
    assert run_step(node, "install", node_files(s), s).returncode == 0
    assert _converge(node, s).returncode == 0

    assert node.count("systemctl restart k3s") == 1
    assert node.count("installer") == node.count("curl") == 0
    assert (node.root / "etc/rancher/k3s/config.yaml").read_text() == k3s_config_yaml(s)


def test_a_missing_flannel_dropin_is_announced(make_node: Callable[..., Node]) -> None:
    s = settings()
    node = running_node(make_node, s, dropin=False)

    proc = adopt(node, s)

    assert proc.returncode == 0, proc.stderr
    assert "install.sh adds it, and that restarts k3s once" in proc.stdout


@pytest.mark.parametrize(
    ("scene", "message"),
    [
        ("older", f"k3s {OLD} runs here but k3sVersion is {NEW}: set k3sVersion to {OLD} to adopt"),
        ("stopped", "k3s is not running: adopt a running node"),
        ("absent", "k3s is not installed here"),
        ("flags", "/etc/rancher/k3s/config.yaml is missing: K3s runs with command-line flags"),
        ("first-boot", "cloud-init reports an error of this node's first boot (exit 1)"),
    ],
)
def test_a_node_that_is_not_as_expected_fails_fast_and_is_left_alone(
    make_node: Callable[..., Node], scene: str, message: str
) -> None:
    s = settings()
    node = running_node(make_node, s, version=OLD if scene == "older" else NEW)
    if scene == "stopped":
        (node.state / "active").unlink()
    if scene == "absent":
        (Path(node.env["FAKE_INSTALL_BIN"]) / "k3s").unlink()
    if scene == "flags":
        (node.root / "etc/rancher/k3s/config.yaml").unlink()
    if scene == "first-boot":
        node.set("cloud_init_rc", "1")

    proc = adopt(node, s)

    assert proc.returncode == 1
    assert f"adopt.sh [honeydue-2]: ERROR: {message}" in proc.stderr
    assert mutating(node) == []
    assert not (node.root / CHECKSUM).exists()


def test_a_node_the_stack_already_manages_is_not_adopted_again(make_node: Callable[..., Node]) -> None:
    s = settings()
    node = running_node(make_node, s)
    (node.root / CHECKSUM).parent.mkdir(parents=True)
    (node.root / CHECKSUM).write_text("recorded-by-an-earlier-install\n")

    proc = adopt(node, s)

    assert proc.returncode == 0 and "nothing to adopt" in proc.stdout
    assert (node.root / CHECKSUM).read_text() == "recorded-by-an-earlier-install\n"


def test_recoverable_first_boot_errors_do_not_stop_the_adoption(make_node: Callable[..., Node]) -> None:
    """Exit 2 of `cloud-init status` is "done with recoverable errors", which wait-cloud-init.sh accepts too."""
    s = settings()
    node = running_node(make_node, s)
    node.set("cloud_init_rc", "2")

    proc = adopt(node, s)

    assert proc.returncode == 0, proc.stderr
    assert (node.root / CHECKSUM).exists()
