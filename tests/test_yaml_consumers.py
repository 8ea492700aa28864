"""Every YAML document the program writes reads back, in its consumer, as the data it was rendered from
(issue 21 item 3). The consumers are Go programs reading YAML 1.1 with go-yaml v2's resolver (K3s's config files,
Helm's values of the HelmChartConfig, client-go's kubeconfig, the manifests K3s or kubectl apply), which
re-types more plain spellings than PyYAML does; cloud-init reads its document with PyYAML itself.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import yaml

from components.k3s.deployer import deployer_files
from components.k3s.kubeconfig import rewrite_server
from components.k3s.node import render_env
from components.k8s.access import namespace_kubeconfig
from components.k8s.traefik_values import helm_chart_config
from offline.plan import revealed
from offline.records import Plan
from tests.k3s_yaml import go_yaml_data

PROJECT_DIR = Path(__file__).resolve().parents[1]
# Plain spellings go-yaml v2 reads as a boolean, null or number (and PyYAML as a string, or as something else).
RETYPED = ("y", "N", "no", "on", "Off", "~", "null", "08", "010", "1e3", "0o17", "0x1f", "1_000", ".inf", "12:30:00")
# Writers of YAML for people or for PyYAML consumers only, each with its reason.
PYYAML_CONSUMERS = {
    "components/yaml_text.py": "the writers themselves (dump_readable for PyYAML and people, dump_quoted for Go)",
}
_WRITER = re.compile(r"yaml\.(safe_)?dump(_all)?\(", re.ASCII)


def _same_in_go(text: str) -> None:
    assert go_yaml_data(text) == list(yaml.safe_load_all(text)), text


def test_every_yaml_writer_quotes_what_go_yaml_would_retype() -> None:
    """Only components/yaml_text.py calls PyYAML's dumpers; its dump_quoted quotes every string. (cloud-init's
    document goes through dump_readable: cloud-init is PyYAML, cloudinit/util.py load_yaml, yaml.safe_load.)"""
    found = [
        str(path.relative_to(PROJECT_DIR))
        for folder in ("components", "tools", "offline")
        for path in (PROJECT_DIR / folder).rglob("*.py")
        if _WRITER.search(path.read_text(encoding="utf-8"))
    ]
    assert sorted(found) == sorted(PYYAML_CONSUMERS), found


CLUSTER_KUBECONFIG = """apiVersion: v1
clusters:
- cluster:
    certificate-authority-data: TFMwdExTMUNSVWRKVGlCRFJWSlVTVVpKUTBGVVJTMHRMUzB0Q2c9PQ==
    server: https://127.0.0.1:6443
  name: default
contexts:
- context: {cluster: default, user: default}
  name: default
current-context: default
kind: Config
users:
- name: default
  user: {token: abc}
"""


@pytest.mark.parametrize("spelling", RETYPED)
def test_each_document_reads_back_the_same_in_go(spelling: str) -> None:
    kubeconfig = namespace_kubeconfig(CLUSTER_KUBECONFIG, spelling, spelling)
    _same_in_go(kubeconfig)
    assert go_yaml_data(kubeconfig)[0]["contexts"][0]["context"]["namespace"] == spelling
    _same_in_go(rewrite_server(CLUSTER_KUBECONFIG, "k8s.honeydue.app"))
    chart = helm_chart_config(["173.245.48.0/20"], spelling, ingress_hostname="api.honeydue.app")
    values = chart["spec"]["valuesContent"]
    _same_in_go(values)
    assert go_yaml_data(values)[0]["tlsStore"]["default"]["defaultCertificate"]["secretName"] == spelling


def test_the_rendered_helm_values_and_deployer_manifests_read_back_the_same_in_go(prod_plan: Plan) -> None:
    config = prod_plan.get("kubernetes:helm.cattle.io/v1:HelmChartConfig", "kube-system-helmchartconfig-traefik")
    _same_in_go(revealed(config.inputs["spec"])["valuesContent"])
    for remote_file in deployer_files():
        _same_in_go(remote_file.content)


def test_the_model_has_teeth_pyyaml_alone_would_hand_go_other_values() -> None:
    retyped = [s for s in RETYPED if go_yaml_data(yaml.safe_dump({"namespace": s}))[0]["namespace"] != s]
    assert set(retyped) >= {"y", "N", "08", "1e3", "0o17"}, retyped


def test_the_node_env_file_reads_back_every_value_in_bash(tmp_path: Path) -> None:
    """/etc/honeydue/k3s.env is sourced by bash (scripts/k3s/lib.sh): each value, hostile ones included, is the
    string the program rendered. No config string reaches an INI file or a systemd unit: K3s's installer writes
    its unit from INSTALL_K3S_EXEC, which the scripts set to the constants server or agent."""
    values = {f"V{i}": value for i, value in enumerate((*RETYPED, "$(id)", "`id`", "a'b\"c", "x\ny", "\u0660 ü", "-n"))}
    env = tmp_path / "k3s.env"
    env.write_text(render_env(values))
    names = " ".join(values)
    script = f'set -eu; . "$1"; for n in {names}; do printf "%s\\0" "${{!n}}"; done'
    out = subprocess.run(["bash", "-c", script, "bash", str(env)], capture_output=True, check=True).stdout
    assert out.decode().split("\0")[:-1] == list(values.values())
