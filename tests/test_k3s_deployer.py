"""The Kubernetes credential Pulumi uses, and how operators read root credentials out of the state.

scripts/k3s/deployer-kubeconfig.sh runs for real with bash against a fake `k3s kubectl`
(tests/fakes_deployer/k3s); its manifests validate against Kubernetes 1.34 strict; tools/state_secrets.py
reads a `pulumi stack export --show-secrets` document.
"""

from __future__ import annotations

import base64
import io
import json
import os
import shutil
import subprocess
from contextlib import redirect_stdout
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.k3s.deployer import deployer_files, deployer_rbac, deployer_token_secret
from components.k3s.scripts import lib_file, script_command
from tests.test_k8s_schema import K8S_VERSION, dump, validate
from tools import state_secrets

FAKES = Path(__file__).parent / "fakes_deployer"
SCRIPT = Path(__file__).parent.parent / "scripts" / "k3s" / "deployer-kubeconfig.sh"
TOKEN = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQ6a3ViZS1zeXN0ZW06cHVsdW1pLWRlcGxveWVyIn0.c2ln"
ADMIN = (
    "apiVersion: v1\nclusters:\n- cluster:\n    certificate-authority-data: Q0EtREFUQQ==\n"
    "    server: https://127.0.0.1:6443\n  name: default\nusers:\n- name: default\n  user:\n"
    "    client-certificate-data: Q0VSVA==\n    client-key-data: S0VZ\n"
)


def test_the_deployer_manifests_validate_against_kubernetes_1_34_strict(tmp_path: Path) -> None:
    objects = [*deployer_rbac(), deployer_token_secret()]
    run = validate(dump(objects, tmp_path))
    problems = [line for line in run.stdout.splitlines() if not line.startswith("INFO ")]
    assert run.returncode == 0 and not problems, "\n".join(problems) or run.stderr
    assert len([line for line in run.stdout.splitlines() if f"against version {K8S_VERSION[:4]}" in line]) == 3


# --- deployer-kubeconfig.sh ------------------------------------------------------------------------


class Server1:
    """A throwaway root with what the remote command writes, and the fake API server's state."""

    def __init__(self, tmp_path: Path) -> None:
        self.root, self.state, bin_dir = tmp_path / "root", tmp_path / "state", tmp_path / "bin"
        for d in (self.root, self.state, bin_dir):
            d.mkdir()
        shutil.copy(FAKES / "k3s", bin_dir / "k3s")
        (bin_dir / "k3s").chmod(0o755)
        for f in [lib_file(), *deployer_files()]:
            path = self.root / f.path.lstrip("/")
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(f.content)
        env_file = self.root / "etc/honeydue/k3s.env"
        env_file.write_text("NODE_NAME=honeydue-1\nREADY_TIMEOUT=2\nPOLL_INTERVAL=0.01\n")
        self.admin = self.root / "etc/rancher/k3s/k3s.yaml"
        self.admin.parent.mkdir(parents=True)
        self.admin.write_text(ADMIN)
        (self.state / "token").write_text(TOKEN)
        self.env = {
            "PATH": f"{bin_dir}:{os.environ['PATH']}",
            "HONEYDUE_ROOT": str(self.root),
            "FAKE_STATE": str(self.state),
            "LC_ALL": "C",
        }

    def run(self, expect_rc: int = 0) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            ["bash", str(SCRIPT)], env=self.env, capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL
        )
        assert proc.returncode == expect_rc, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
        return proc

    def calls(self) -> list[str]:
        log = self.state / "calls.log"
        return log.read_text().splitlines() if log.exists() else []


pytestmark = pytest.mark.skipif(shutil.which("bash") is None or shutil.which("base64") is None, reason="needs bash")


def test_prints_a_token_kubeconfig_with_k3s_cluster_entry_unchanged(tmp_path: Path) -> None:
    node = Server1(tmp_path)
    (node.state / "crd_polls_needed").write_text("3")
    (node.state / "token_polls_needed").write_text("2")

    kubeconfig = yaml.safe_load(node.run().stdout)

    admin = yaml.safe_load(ADMIN)
    assert kubeconfig["clusters"] == admin["clusters"]  # same cluster: a provider update, never a replace
    assert kubeconfig["users"] == [{"name": "pulumi-deployer", "user": {"token": TOKEN}}]
    assert kubeconfig["contexts"][0]["context"] == {"cluster": "default", "user": "pulumi-deployer"}
    calls = node.calls()
    # The CRDs first (waited for until they exist, then established), then the identity, then the token.
    first_wait = next(i for i, c in enumerate(calls) if " wait " in c)
    assert all(i < first_wait for i, c in enumerate(calls) if " get crd " in c)
    assert "condition=established" in calls[first_wait]
    assert "crd/helmcharts.helm.cattle.io crd/helmchartconfigs.helm.cattle.io" in calls[first_wait]
    order = [next(i for i, c in enumerate(calls) if f" {verb} " in c) for verb in ("wait", "apply", "delete", "create")]
    assert order == sorted(order)
    # Every call is bounded, and the token is never an argument of a process.
    assert all("--request-timeout=10s" in c for c in calls if c.startswith("k3s kubectl") and " wait " not in c)
    assert "--request-timeout=12s" in calls[first_wait] and "--timeout=2s" in calls[first_wait]
    assert not [c for c in calls if TOKEN in c or base64.b64encode(TOKEN.encode()).decode() in c]


def test_every_run_hands_out_a_new_token_and_the_old_one_dies(tmp_path: Path) -> None:
    node = Server1(tmp_path)
    node.run()
    (node.state / "token").write_text(TOKEN + "2")
    assert yaml.safe_load(node.run().stdout)["users"][0]["user"]["token"] == TOKEN + "2"
    assert sum(" delete " in c for c in node.calls()) == 2


@pytest.mark.parametrize(
    ("scene", "message"),
    [
        ({"crd_polls_needed": "never"}, "CRD helmcharts.helm.cattle.io: not there after 2s"),
        ({"not_established": ""}, "the helm.cattle.io CRDs are not established"),
        ({"token_polls_needed": "100000"}, "token of kube-system/pulumi-deployer-token: not there after 2s"),
    ],
)
def test_fails_clearly_and_prints_no_kubeconfig(tmp_path: Path, scene: dict[str, str], message: str) -> None:
    node = Server1(tmp_path)
    for name, value in scene.items():
        (node.state / name).write_text(value)
    proc = node.run(expect_rc=1)
    assert message in proc.stderr and proc.stdout == ""


def test_refuses_to_run_without_the_admin_kubeconfig(tmp_path: Path) -> None:
    node = Server1(tmp_path)
    node.admin.unlink()
    assert "k3s.yaml is missing or empty" in node.run(expect_rc=1).stderr
    assert node.calls() == []


def test_the_remote_command_ships_the_manifests_and_the_script() -> None:
    text = script_command("deployer-kubeconfig", deployer_files())
    assert "/etc/honeydue/deployer/rbac.yaml" in text and "/etc/honeydue/deployer/token-secret.yaml" in text
    assert SCRIPT.read_text() in text


# --- tools/state_secrets.py ---------------------------------------------------------------------------


def _secret(value: Any, *, decrypted: bool = True) -> dict[str, str]:
    body = {"plaintext": json.dumps(value)} if decrypted else {"ciphertext": "AAAA"}
    return {state_secrets.SECRET_SIG_KEY: state_secrets.SECRET_SIG, **body}


def _export(*, decrypted: bool = True) -> dict[str, Any]:
    prefix = "urn:pulumi:prod::honeydue::"
    return {
        "version": 3,
        "deployment": {
            "resources": [
                {
                    "urn": prefix + "honeydue:k3s:K3sCluster$pulumi:providers:kubernetes::honeydue-k3s-k8s",
                    "type": "pulumi:providers:kubernetes",
                    "inputs": {"kubeconfig": _secret("apiVersion: v1\nkind: Config\n", decrypted=decrypted)},
                },
                {
                    "urn": prefix + "honeydue:nodes:Nodes$tls:index/privateKey:PrivateKey::honeydue-1-host-key",
                    "type": "tls:index/privateKey:PrivateKey",
                    "outputs": {"privateKeyOpenssh": _secret("HOST KEY", decrypted=decrypted)},
                },
                {
                    "urn": prefix + "honeydue:nodes:Nodes$tls:index/privateKey:PrivateKey::honeydue-deploy",
                    "type": "tls:index/privateKey:PrivateKey",
                    "outputs": {"privateKeyOpenssh": _secret("DEPLOY KEY\n", decrypted=decrypted)},
                },
            ]
        },
    }


def test_reads_the_kubeconfig_and_the_deploy_key_from_a_decrypted_export() -> None:
    assert state_secrets.credential(_export(), "kubeconfig") == "apiVersion: v1\nkind: Config\n"
    assert state_secrets.credential(_export(), "deploy-key") == "DEPLOY KEY\n"


def test_after_a_rotation_the_deploy_key_is_the_highest_generation() -> None:
    export = _export()
    resources = export["deployment"]["resources"]
    newer = dict(resources[-1], urn=resources[-1]["urn"] + "-2", outputs={"privateKeyOpenssh": "KEY 2\n"})
    resources.append(newer)
    assert state_secrets.credential(export, "deploy-key") == "KEY 2\n"


def test_an_encrypted_export_is_refused_with_the_command_to_run() -> None:
    with pytest.raises(state_secrets.StateError, match="--show-secrets"):
        state_secrets.credential(_export(decrypted=False), "kubeconfig")


def test_a_missing_resource_is_named() -> None:
    export = _export()
    export["deployment"]["resources"] = export["deployment"]["resources"][1:]
    with pytest.raises(state_secrets.StateError, match="honeydue-k3s-k8s"):
        state_secrets.credential(export, "kubeconfig")


def test_the_cli_writes_only_the_credential(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(json.dumps(_export())))
    out = io.StringIO()
    with redirect_stdout(out):
        assert state_secrets.main(["deploy-key"]) == 0
    assert out.getvalue() == "DEPLOY KEY\n"
    monkeypatch.setattr("sys.stdin", io.StringIO(json.dumps(_export(decrypted=False))))
    assert state_secrets.main(["deploy-key"]) == 1


def test_the_makefile_writes_credentials_0600_and_removes_them_on_failure() -> None:
    makefile = (Path(__file__).parent.parent / "Makefile").read_text()
    for which in ("kubeconfig", "deploy-key"):
        recipe = makefile.split(f"\n{which}:", 1)[1].split("\n\n", 1)[0]
        assert "umask 077" in recipe and "set -o pipefail" in recipe and "rm -f" in recipe
        assert "--show-secrets" in recipe and f"tools.state_secrets {which}" in recipe


# --- wait-traefik-crds.sh -----------------------------------------------------------------------------

CRDS_SCRIPT = SCRIPT.parent / "wait-traefik-crds.sh"


def _wait_crds(node: Server1, expect_rc: int) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        ["bash", str(CRDS_SCRIPT)], env=node.env, capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL
    )
    assert proc.returncode == expect_rc, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc


def test_traefik_s_middlewares_wait_until_their_crd_exists_and_is_established(tmp_path: Path) -> None:
    node = Server1(tmp_path)
    (node.state / "crd_polls_needed").write_text("3")  # the traefik-crd Job installs it a moment later
    assert "traefik.io CRDs established: middlewares.traefik.io" in _wait_crds(node, 0).stdout
    calls = node.calls()
    wait = next(i for i, c in enumerate(calls) if " wait " in c)
    assert sum(" get crd middlewares.traefik.io " in c + " " for c in calls[:wait]) == 4
    assert "condition=established" in calls[wait] and "crd/middlewares.traefik.io" in calls[wait]
    assert "--request-timeout=12s" in calls[wait] and "--timeout=2s" in calls[wait]


@pytest.mark.parametrize(
    ("scene", "message"),
    [
        ({"crd_polls_needed": "never"}, "CRD middlewares.traefik.io: not there after 2s"),
        ({"not_established": ""}, "the traefik.io CRDs are not established"),
    ],
)
def test_the_crd_wait_fails_clearly(tmp_path: Path, scene: dict[str, str], message: str) -> None:
    node = Server1(tmp_path)
    for name, value in scene.items():
        (node.state / name).write_text(value)
    assert message in _wait_crds(node, 1).stderr


def test_the_crd_wait_runs_on_server_1_before_the_middlewares(prod_plan: Any) -> None:
    step = prod_plan.get("command:remote:Command", "honeydue-k3s-traefik-crds")
    assert prod_plan.get("command:remote:Command", "honeydue-k3s-1-ready").urn in step.dependencies
    assert "wait-traefik-crds.sh" in str(step.inputs["create"]) or "traefik.io CRDs" in str(step.inputs["create"])
    middlewares = prod_plan.by_type("kubernetes:traefik.io/v1alpha1:Middleware")
    assert middlewares and all(step.urn in m.dependencies for m in middlewares)
