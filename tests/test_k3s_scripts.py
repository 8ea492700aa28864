"""The scripts of scripts/k3s/ executed for real with bash, in a throwaway root, against fakes.

tests/fakes_k3s/ holds fake curl, systemctl, journalctl, kubectl, cloud-init, ip and a fake K3s release
(installer, k3s, k3s-uninstall.sh). They go first on PATH, log every call to calls.log and keep their
state in files, so each test sets the scene by writing a state file and reads what happened from the log.
Nothing here touches the network, the host's /etc, systemd or k3s.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from components.k3s.node import SECRETS_PATH, K3sNodeSettings, k3s_config_yaml, node_env, node_files, secrets_yaml
from components.k3s.scripts import converge_files, lib_file, script_command
from tests.k3s_settings import node_settings

FAKES = Path(__file__).parent / "fakes_k3s"
SCRIPTS = Path(__file__).parent.parent / "scripts" / "k3s"
OLD = "v1.33.5+k3s1"
NEW = "v1.34.6+k3s1"
TOKEN = "K10-test-token"

pytestmark = pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")


def settings(**overrides: Any) -> K3sNodeSettings:
    """Server 2 (a joiner) with timeouts small enough for tests."""
    base: dict[str, Any] = {
        "node_name": "honeydue-2",
        "role": "join",
        "join_url": "https://10.0.1.2:6443",
        "node_ip": "10.0.1.3",
        "external_ips": ("203.0.113.10", "2001:db8::1"),
        "tls_sans": ("10.0.1.2", "10.0.1.3", "203.0.113.10", "api.example.test"),
        "cluster_cidr": "10.42.0.0/16",
        "service_cidr": "10.43.0.0/16",
        "kube_proxy_mode": "ipvs",
        "flannel_backend": "vxlan",
        "etcd_snapshot_schedule": "0 */6 * * *",
        "etcd_snapshot_retention": 20,
        "etcd_s3": None,
        "version": NEW,
        "ready_timeout": 1,
        "drain_timeout": 5,
        "start_timeout": 5,
        "cloud_init_timeout": 5,
        "iface_timeout": 0,
        "join_attempts": 5,
        "retry_delay": 0,
        "poll_interval": 0.05,
    }
    if overrides.get("role") == "init":
        base["join_url"] = None
    return node_settings(base | overrides)


@dataclasses.dataclass
class Node:
    """A throwaway node: root filesystem, fake state and the environment the scripts run in."""

    root: Path
    state: Path
    env: dict[str, str]

    def configure(self, s: K3sNodeSettings) -> None:
        """Write config.yaml, the secrets drop-in and the env file as the remote command would."""
        (self.root / "etc/rancher/k3s/config.yaml.d").mkdir(parents=True, exist_ok=True)
        (self.root / "etc/honeydue").mkdir(parents=True, exist_ok=True)
        (self.root / "etc/rancher/k3s/config.yaml").write_text(k3s_config_yaml(s))
        (self.root / SECRETS_PATH.lstrip("/")).write_text(secrets_yaml(s, TOKEN))
        (self.root / "etc/honeydue/k3s.env").write_text(node_env(s))
        # Every remote command installs lib.sh, which every script sources, under LIB_DIR.
        lib = lib_file()
        (self.root / lib.path.lstrip("/")).parent.mkdir(parents=True, exist_ok=True)
        (self.root / lib.path.lstrip("/")).write_text(lib.content)

    def run(self, name: str, expect_rc: int = 0) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            ["bash", str(SCRIPTS / f"{name}.sh")],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=15,
            stdin=subprocess.DEVNULL,
        )
        assert proc.returncode == expect_rc, f"{name}.sh exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
        return proc

    def set(self, name: str, value: str = "") -> None:
        (self.state / name).write_text(value)

    def calls(self) -> list[str]:
        log = self.state / "calls.log"
        return log.read_text().splitlines() if log.exists() else []

    def clear_calls(self) -> None:
        (self.state / "calls.log").unlink(missing_ok=True)

    def index(self, prefix: str) -> int:
        """Position of the first call starting with prefix (fails if there is none)."""
        calls = self.calls()
        for i, call in enumerate(calls):
            if call.startswith(prefix):
                return i
        raise AssertionError(f"no call starting with {prefix!r} in {calls}")

    def count(self, prefix: str) -> int:
        return sum(call.startswith(prefix) for call in self.calls())

    def version(self) -> str | None:
        path = self.state / "version"
        return path.read_text().strip() if path.exists() else None


@pytest.fixture
def make_node(tmp_path: Path) -> Callable[..., Node]:
    def make(s: K3sNodeSettings | None = None) -> Node:
        root, state, bin_dir, installed = (tmp_path / d for d in ("root", "state", "fakebin", "installed-bin"))
        for d in (root, state, installed):
            d.mkdir()
        # Copied so the executable bit does not depend on how the repo was checked out.
        shutil.copytree(FAKES / "bin", bin_dir)
        release = tmp_path / "release"
        shutil.copytree(FAKES / "release", release)
        for f in [*bin_dir.iterdir(), *release.iterdir()]:
            f.chmod(0o755)
        (tmp_path / "tmp").mkdir()
        env = {
            "PATH": f"{bin_dir}:{installed}:{os.environ['PATH']}",
            "HOME": str(tmp_path),
            "TMPDIR": str(tmp_path / "tmp"),
            "LC_ALL": "C",
            "HONEYDUE_ROOT": str(root),
            "FAKE_STATE": str(state),
            "FAKE_RELEASE": str(release),
            "FAKE_INSTALL_BIN": str(installed),
        }
        node = Node(root, state, env)
        node.configure(s or settings())
        return node

    return make


def installed_node(make_node: Callable[..., Node], s: K3sNodeSettings) -> Node:
    node = make_node(s)
    node.run("install")
    node.clear_calls()
    return node


# --- install.sh ---------------------------------------------------------------------------------------


def test_install_fresh_uses_the_pinned_installer_and_the_private_nic(make_node: Callable[..., Node]) -> None:
    node = make_node()
    out = node.run("install").stdout

    url = "https://raw.githubusercontent.com/k3s-io/k3s/v1.34.6%2Bk3s1/install.sh"
    assert any(call.startswith("curl ") and call.endswith(url) for call in node.calls()), node.calls()
    assert f"installer INSTALL_K3S_VERSION={NEW} INSTALL_K3S_EXEC=server INSTALL_K3S_SKIP_START=true" in node.calls()
    assert node.count("systemctl restart k3s") == 1
    assert node.version() == NEW
    dropin = node.root / "etc/rancher/k3s/config.yaml.d/10-flannel-iface.yaml"
    assert dropin.read_text() == "flannel-iface: enp7s0\n"
    assert (node.root / "var/lib/honeydue/k3s-config.sha256").read_text().strip()
    assert "started (flannel-iface enp7s0)" in out
    # The downloaded installer is not left behind.
    assert not list(Path(node.env["TMPDIR"]).iterdir())


def test_install_second_run_changes_nothing(make_node: Callable[..., Node]) -> None:
    node = make_node()
    node.run("install")
    k3s_dir = node.root / "etc/rancher/k3s"
    before = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in k3s_dir.rglob("*") if p.is_file()}
    node.clear_calls()

    out = node.run("install").stdout

    assert "nothing to do" in out
    assert not [c for c in node.calls() if c.split()[0] in ("curl", "installer") or "restart" in c], node.calls()
    after = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in k3s_dir.rglob("*") if p.is_file()}
    assert after == before


def test_install_restarts_without_reinstalling_when_the_config_changed(make_node: Callable[..., Node]) -> None:
    node = installed_node(make_node, settings())
    node.configure(settings(tls_sans=("10.0.1.3", "k8s.example.test")))

    out = node.run("install").stdout

    assert "config changed" in out
    assert node.count("systemctl restart k3s") == 1
    assert node.count("curl") == node.count("installer") == 0
    node.clear_calls()
    node.run("install")
    assert node.count("systemctl restart") == 0


def test_leaving_ipvs_asks_kured_for_a_reboot_that_clears_the_leftovers(make_node: Callable[..., Node]) -> None:
    # Issue 24 item 3: kube-proxy in iptables mode leaves IPVS's dummy interface (every old Service address),
    # the IPVS table and its ipsets behind; removing them live would strand connections opened through IPVS,
    # so the restart that switches the mode writes kured's sentinel: a drained reboot in the window clears them.
    node = installed_node(make_node, settings())
    node.set("kube_ipvs0")
    sentinel = node.root / "var/run/reboot-required"
    node.configure(settings(tls_sans=("10.0.1.3",)))  # a restart, still IPVS: no reboot
    node.run("install")
    assert not sentinel.exists()

    node.configure(settings(kube_proxy_mode="iptables"))
    out = node.run("install").stdout

    assert "asking kured to reboot this node" in out and sentinel.exists()
    assert node.count("systemctl restart k3s") == 2 and node.count("ip link delete") == 0


def test_a_switch_in_the_upgrade_s_up_still_asks_for_the_reboot(make_node: Callable[..., Node]) -> None:
    # converge.sh runs upgrade.sh first, which restarts k3s with the new config and records its checksum:
    # install.sh then finds nothing to do, and must still see the IPVS leftovers.
    node = installed_node(make_node, settings(kube_proxy_mode="iptables"))
    node.set("kube_ipvs0")
    assert "nothing to do" in node.run("install").stdout
    assert (node.root / "var/run/reboot-required").exists()
    # After kured's reboot: no sentinel (/run is a tmpfs), no kube-ipvs0, nothing asked again.
    (node.root / "var/run/reboot-required").unlink()
    (node.state / "kube_ipvs0").unlink()
    node.run("install")
    assert not (node.root / "var/run/reboot-required").exists()


def test_install_restarts_when_the_private_nic_changed(make_node: Callable[..., Node]) -> None:
    node = installed_node(make_node, settings())
    node.set("ip_addrs", "2: ens10    inet 10.0.1.3/32 scope global ens10\\       valid_lft forever\n")

    node.run("install")

    assert (node.root / "etc/rancher/k3s/config.yaml.d/10-flannel-iface.yaml").read_text() == "flannel-iface: ens10\n"
    assert node.count("systemctl restart k3s") == 1


def test_install_starts_a_stopped_k3s(make_node: Callable[..., Node]) -> None:
    node = installed_node(make_node, settings())
    (node.state / "active").unlink()

    assert "not running" in node.run("install").stdout
    assert node.count("systemctl restart k3s") == 1 and node.count("installer") == 0


def test_install_leaves_a_version_change_to_upgrade(make_node: Callable[..., Node]) -> None:
    node = installed_node(make_node, settings(version=OLD))
    node.configure(settings(version=NEW))

    out = node.run("install").stdout

    assert "left to upgrade.sh" in out
    assert node.version() == OLD
    assert node.count("installer") == node.count("systemctl restart") == node.count("kubectl") == 0


def test_join_retries_while_etcd_reports_too_many_learners(make_node: Callable[..., Node]) -> None:
    node = make_node(settings(role="join"))
    node.set("learner_failures", "3")

    out = node.run("install").stdout

    assert node.count("systemctl restart k3s") == 4
    assert node.count("installer") == 1  # retries restart k3s, they don't reinstall
    assert node.count("journalctl -u k3s --since @") == 3
    assert out.count("etcd is still promoting another learner") == 3
    assert "start 3/5 failed" in out
    assert (node.state / "active").exists()


def test_join_gives_up_after_join_attempts(make_node: Callable[..., Node]) -> None:
    node = make_node(settings(role="join", join_attempts=3))
    node.set("learner_failures", "10")

    err = node.run("install", expect_rc=1).stderr

    assert node.count("systemctl restart k3s") == 3
    assert "etcd still refused honeydue-2 after 3 starts ('too many learner members')" in err
    # Not recorded as installed: the next run tries the start again.
    assert not (node.root / "var/lib/honeydue/k3s-config.sha256").exists()
    node.set("learner_failures", "0")
    node.clear_calls()
    node.run("install")
    assert node.count("installer") == 0 and node.count("systemctl restart k3s") == 1


def test_init_does_not_retry_learner_errors(make_node: Callable[..., Node]) -> None:
    node = make_node(settings(role="init", node_name="honeydue-1"))
    node.set("learner_failures", "1")

    err = node.run("install", expect_rc=1).stderr

    assert node.count("systemctl restart k3s") == 1
    assert "k3s failed to start" in err


def test_install_other_start_failure_shows_the_journal(make_node: Callable[..., Node]) -> None:
    node = make_node()
    node.set("start_fails")

    err = node.run("install", expect_rc=1).stderr

    assert node.count("systemctl restart k3s") == 1
    assert "k3s failed to start (systemctl exit 1)" in err and "bad config" in err


def test_install_fails_clearly_when_no_nic_holds_the_node_ip(make_node: Callable[..., Node]) -> None:
    node = make_node(settings(node_ip="10.0.1.9"))

    err = node.run("install", expect_rc=1).stderr

    assert "no network interface holds NODE_IP 10.0.1.9" in err
    assert node.count("curl") == 0


def test_install_through_the_remote_command(make_node: Callable[..., Node]) -> None:
    """The text pulumi-command runs: files written into the root, then install.sh, twice."""
    s = settings()
    node = make_node(s)
    for f in node.root.rglob("*"):
        if f.is_file():
            f.unlink()
    command = script_command("install", node_files(s))
    assert TOKEN not in command

    for _ in range(2):
        secrets = secrets_yaml(s, TOKEN)
        proc = subprocess.run(
            ["sh", "-c", command], input=secrets, env=node.env, capture_output=True, text=True, timeout=15
        )
        assert proc.returncode == 0, proc.stderr

    assert (node.root / "etc/rancher/k3s/config.yaml").read_text() == k3s_config_yaml(s)
    assert (node.root / "etc/rancher/k3s/config.yaml").stat().st_mode & 0o777 == 0o600
    drop_in = node.root / SECRETS_PATH.lstrip("/")
    assert drop_in.read_text() == secrets_yaml(s, TOKEN) and drop_in.stat().st_mode & 0o777 == 0o600
    assert "nothing to do" in proc.stdout
    assert node.count("installer") == 1


# --- converge.sh (the day-2 step, through the remote command text) -----------------------------------


def _converge(node: Node, s: K3sNodeSettings) -> subprocess.CompletedProcess[str]:
    command = script_command("converge", [*node_files(s), *converge_files()])
    return subprocess.run(
        ["sh", "-c", command], input=secrets_yaml(s, TOKEN), env=node.env, capture_output=True, text=True, timeout=30
    )


def test_converge_is_a_noop_on_a_converged_server(make_node: Callable[..., Node]) -> None:
    node = installed_node(make_node, settings())
    node.clear_calls()

    proc = _converge(node, settings())

    assert proc.returncode == 0, proc.stderr
    mutating = [c for c in node.calls() if c.startswith(("installer", "systemctl restart", "kubectl drain"))]
    assert mutating == []


def test_converge_upgrades_a_server_to_a_new_release_in_order(make_node: Callable[..., Node]) -> None:
    node = installed_node(make_node, settings(version=OLD))
    node.clear_calls()

    proc = _converge(node, settings(version=NEW))

    assert proc.returncode == 0, proc.stderr
    assert node.version() == NEW
    order = [node.index(p) for p in ("kubectl cordon", "kubectl drain", "installer", "kubectl uncordon")]
    assert order == sorted(order)


def test_converge_applies_a_config_change_with_one_restart(make_node: Callable[..., Node]) -> None:
    node = installed_node(make_node, settings())
    node.clear_calls()

    proc = _converge(node, settings(tls_sans=("10.0.1.2", "10.0.1.3", "k8s.example.test")))

    assert proc.returncode == 0, proc.stderr
    assert node.count("systemctl restart k3s") == 1 and node.count("installer") == 0
    assert "k8s.example.test" in (node.root / "etc/rancher/k3s/config.yaml").read_text()


# --- wait-ready.sh --------------------------------------------------------------------------------------


def test_wait_ready_polls_until_ready(make_node: Callable[..., Node]) -> None:
    node = installed_node(make_node, settings(ready_timeout=5))
    node.set("ready_after", "3")

    out = node.run("wait-ready").stdout

    assert node.count("kubectl get node honeydue-2") == 4
    assert f"node honeydue-2 is Ready (kubelet {NEW})" in out


def test_wait_ready_times_out_naming_the_node_and_the_last_condition(make_node: Callable[..., Node]) -> None:
    node = installed_node(make_node, settings(ready_timeout=1))
    node.set("ready_after", "never")

    started = time.monotonic()
    err = node.run("wait-ready", expect_rc=1).stderr

    assert time.monotonic() - started < 5
    assert "node honeydue-2 not Ready after 1s" in err
    assert f"last seen: kubelet {NEW}, Ready=False KubeletNotReady container runtime network not ready" in err


def test_wait_ready_reports_an_unreachable_api_server(make_node: Callable[..., Node]) -> None:
    node = installed_node(make_node, settings(ready_timeout=1))
    node.set("api_down")

    err = node.run("wait-ready", expect_rc=1).stderr

    assert "node honeydue-2 not Ready after 1s; last seen: The connection to the server" in err


# --- upgrade.sh -----------------------------------------------------------------------------------------


def test_upgrade_cordons_drains_installs_waits_and_uncordons_in_order(make_node: Callable[..., Node]) -> None:
    node = installed_node(make_node, settings(version=OLD))
    node.configure(settings(version=NEW))

    out = node.run("upgrade").stdout

    steps = [
        "kubectl cordon honeydue-2",
        "kubectl drain honeydue-2",
        "curl ",
        f"installer INSTALL_K3S_VERSION={NEW}",
        "systemctl restart k3s",
        "kubectl get node honeydue-2",
        "kubectl uncordon honeydue-2",
    ]
    positions = [node.index(step) for step in steps]
    assert positions == sorted(positions), node.calls()
    drain = node.calls()[node.index("kubectl drain")]
    assert drain.split()[1:] == [
        "drain",
        "honeydue-2",
        "--ignore-daemonsets",
        "--delete-emptydir-data",
        "--timeout=5s",
        "--request-timeout=30s",
    ]
    assert node.version() == NEW and not (node.state / "cordoned").exists()
    assert f"upgrading k3s {OLD} -> {NEW}" in out
    assert not (node.root / "var/lib/honeydue/k3s-upgrade-in-progress").exists()

    # Afterwards install.sh sees nothing to do either.
    node.clear_calls()
    assert "nothing to do" in node.run("install").stdout
    assert "nothing to do" in node.run("upgrade").stdout
    assert node.count("kubectl") == node.count("installer") == 0


def test_upgrade_is_a_noop_when_versions_match(make_node: Callable[..., Node]) -> None:
    node = installed_node(make_node, settings())

    assert f"k3s {NEW} is installed: nothing to do" in node.run("upgrade").stdout
    assert [c for c in node.calls() if not c.startswith("k3s --version")] == []


def test_upgrade_waits_for_the_new_kubelet_version(make_node: Callable[..., Node]) -> None:
    """A node still reporting Ready on the old kubelet is not done: it stays cordoned."""
    node = installed_node(make_node, settings(version=OLD))
    node.configure(settings(version=NEW))
    node.set("kubelet_version", OLD)

    err = node.run("upgrade", expect_rc=1).stderr

    assert f"not Ready at {NEW} after 1s (it stays cordoned); last seen: kubelet {OLD}, Ready=True" in err
    assert (node.state / "cordoned").exists()


def test_upgrade_start_failure_leaves_the_node_cordoned(make_node: Callable[..., Node]) -> None:
    node = installed_node(make_node, settings(version=OLD))
    node.configure(settings(version=NEW))
    node.set("start_fails")

    err = node.run("upgrade", expect_rc=1).stderr

    assert f"k3s {NEW} failed to start" in err and "stays cordoned" in err
    assert (node.state / "cordoned").exists() and node.count("kubectl uncordon") == 0


def test_upgrade_drain_failure_uncordons_and_changes_nothing(make_node: Callable[..., Node]) -> None:
    node = installed_node(make_node, settings(version=OLD))
    node.configure(settings(version=NEW))
    node.set("drain_fails")

    err = node.run("upgrade", expect_rc=1).stderr

    assert "a PodDisruptionBudget may block it" in err and "node uncordoned" in err
    assert node.index("kubectl uncordon") > node.index("kubectl drain")
    assert node.count("installer") == 0 and node.version() == OLD
    assert not (node.root / "var/lib/honeydue/k3s-upgrade-in-progress").exists()


def test_upgrade_rerun_after_a_failure_finishes_the_job(make_node: Callable[..., Node]) -> None:
    node = installed_node(make_node, settings(version=OLD))
    node.configure(settings(version=NEW))
    node.set("ready_after", "never")

    err = node.run("upgrade", expect_rc=1).stderr
    assert f"node honeydue-2 not Ready at {NEW} after 1s (it stays cordoned)" in err
    assert (node.state / "cordoned").exists() and node.version() == NEW

    node.set("ready_after", "0")
    node.clear_calls()
    out = node.run("upgrade").stdout

    assert "finishing the upgrade" in out
    assert node.count("installer") == node.count("kubectl drain") == 0
    assert node.index("kubectl get node") < node.index("kubectl uncordon")
    assert not (node.state / "cordoned").exists()


def test_upgrade_refuses_a_node_without_k3s(make_node: Callable[..., Node]) -> None:
    node = make_node()
    assert "install.sh installs it" in node.run("upgrade", expect_rc=1).stderr


# --- remove.sh ------------------------------------------------------------------------------------------


def test_remove_drains_deletes_uninstalls_and_is_idempotent(make_node: Callable[..., Node]) -> None:
    node = installed_node(make_node, settings())

    node.run("remove")

    steps = ["kubectl drain honeydue-2", "kubectl delete node honeydue-2", "k3s-uninstall.sh"]
    positions = [node.index(step) for step in steps]
    assert positions == sorted(positions)
    assert "--wait=false" in node.calls()[node.index("kubectl delete")]
    assert node.version() is None

    node.clear_calls()
    assert "nothing to remove" in node.run("remove").stdout
    assert node.calls() == []


def test_remove_skips_the_api_when_the_node_is_already_gone(make_node: Callable[..., Node]) -> None:
    node = installed_node(make_node, settings())
    node.set("node_absent")

    assert "not in the cluster" in node.run("remove").stdout
    assert node.count("kubectl drain") == node.count("kubectl delete") == 0
    assert node.count("k3s-uninstall.sh") == 1


def test_remove_rerun_after_the_delete_does_not_need_the_api(make_node: Callable[..., Node]) -> None:
    """After the delete the local API server loses its etcd member; a re-run must still finish."""
    node = installed_node(make_node, settings())
    node.set("uninstall_fails")
    node.run("remove", expect_rc=1)
    assert node.count("kubectl delete node") == 1 and (node.state / "api_down").exists()

    (node.state / "uninstall_fails").unlink()
    node.clear_calls()
    node.run("remove")

    assert node.count("kubectl") == 0 and node.count("k3s-uninstall.sh") == 1
    assert node.version() is None
    assert not (node.root / "var/lib/honeydue/k3s-node-deleted").exists()


def test_remove_stops_when_the_drain_is_blocked(make_node: Callable[..., Node]) -> None:
    node = installed_node(make_node, settings())
    node.set("drain_fails")

    assert "nothing removed" in node.run("remove", expect_rc=1).stderr
    assert node.count("kubectl delete") == node.count("k3s-uninstall.sh") == 0


# --- wait-cloud-init.sh, fetch-kubeconfig.sh, common ----------------------------------------------------


@pytest.mark.parametrize(("rc", "expect_rc", "text"), [(0, 0, "cloud-init is done"), (2, 0, "recoverable errors")])
def test_wait_cloud_init_done(make_node: Callable[..., Node], rc: int, expect_rc: int, text: str) -> None:
    node = make_node()
    node.set("cloud_init_rc", str(rc))
    assert text in node.run("wait-cloud-init", expect_rc=expect_rc).stdout
    assert node.calls()[0] == "cloud-init status --wait"


def test_wait_cloud_init_fails_clearly_on_error(make_node: Callable[..., Node]) -> None:
    node = make_node()
    node.set("cloud_init_rc", "1")

    proc = node.run("wait-cloud-init", expect_rc=1)

    assert "cloud-init failed on honeydue-2 (status error, exit 1)" in proc.stderr
    assert "Failed to run module scripts_user" in proc.stderr


def test_fetch_kubeconfig(make_node: Callable[..., Node]) -> None:
    node = make_node()
    assert "k3s.yaml is missing or empty" in node.run("fetch-kubeconfig", expect_rc=1).stderr
    kubeconfig = "apiVersion: v1\nclusters:\n- cluster:\n    server: https://127.0.0.1:6443\n"
    (node.root / "etc/rancher/k3s/k3s.yaml").write_text(kubeconfig)
    assert node.run("fetch-kubeconfig").stdout == kubeconfig


@pytest.mark.parametrize("name", ["wait-cloud-init", "install", "wait-ready", "upgrade", "remove", "fetch-kubeconfig"])
def test_every_script_names_a_missing_env_file(make_node: Callable[..., Node], name: str) -> None:
    node = make_node()
    (node.root / "etc/honeydue/k3s.env").unlink()
    assert "k3s.env is missing" in node.run(name, expect_rc=1).stderr
