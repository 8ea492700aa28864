"""The K3s cluster as the program registers it (mock engine): chain, flags, pinned keys, secrets, upgrades."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.config.reader import ConfigError
from components.k3s.host_key import HELD_INPUTS
from components.k3s.steps import LEAVE_REFUSED
from offline.fakes import fake_ed25519_public_key
from offline.harness import run_program
from offline.plan import revealed, write_plan
from offline.records import Plan, Registration, SecretValue
from tests.conftest import rekeyed_host_key

COMMAND = "command:remote:Command"
SERVERS = ("honeydue-1", "honeydue-2", "honeydue-3")


def command(plan: Plan, name: str) -> Registration:
    return plan.get(COMMAND, name)


def config_yaml(plan: Plan, index: int) -> dict[str, Any]:
    """The config.yaml the install step of server `index` writes (read out of its heredoc)."""
    text = revealed(command(plan, f"honeydue-k3s-{index}-install").inputs["create"])
    body = text.split("cat >\"$tmp\" <<'HONEYDUE_EOF'\n", 1)[1].split("\nHONEYDUE_EOF", 1)[0]
    return yaml.safe_load(body)


def drop_in(plan: Plan, name: str) -> dict[str, Any]:
    """The secrets drop-in a step sends on stdin (it must be secret)."""
    stdin = command(plan, name).inputs["stdin"]
    assert isinstance(stdin, SecretValue), name
    loaded = yaml.safe_load(revealed(stdin))
    assert isinstance(loaded, dict)
    return loaded


def test_servers_join_one_after_the_other(prod_plan: Plan) -> None:
    for index in (2, 3):
        install = command(prod_plan, f"honeydue-k3s-{index}-install")
        previous_ready = command(prod_plan, f"honeydue-k3s-{index - 1}-ready")
        assert previous_ready.urn in install.dependencies
        # ... and after the previous server's converge step: a (new) server never joins while another
        # restarts.
        assert command(prod_plan, f"honeydue-k3s-{index - 1}-converge").urn in install.dependencies
    first_install = command(prod_plan, "honeydue-k3s-1-install")
    assert not any("-ready" in dep for dep in first_install.dependencies)


def test_changes_roll_one_server_at_a_time(prod_plan: Plan) -> None:
    for index in (2, 3):
        converge = command(prod_plan, f"honeydue-k3s-{index}-converge")
        assert command(prod_plan, f"honeydue-k3s-{index - 1}-converge").urn in converge.dependencies
        assert command(prod_plan, f"honeydue-k3s-{index}-ready").urn in converge.dependencies


def test_first_server_starts_the_cluster_and_the_others_join_it(prod_plan: Plan) -> None:
    first, second, third = (config_yaml(prod_plan, i) for i in (1, 2, 3))
    assert first["cluster-init"] is True and "server" not in first
    assert second["server"] == third["server"] == "https://10.0.1.2:6443"
    assert "cluster-init" not in second


def test_cluster_flags_are_identical_and_as_production_needs(prod_plan: Plan) -> None:
    configs = [config_yaml(prod_plan, i) for i in (1, 2, 3)]
    per_node = {"node-name", "node-ip", "advertise-address", "node-external-ip", "tls-san", "cluster-init", "server"}
    shared = [{k: v for k, v in c.items() if k not in per_node} for c in configs]
    assert shared[0] == shared[1] == shared[2]
    flags = configs[0]
    assert flags["disable"] == ["servicelb"]
    assert flags["secrets-encryption"] is True
    assert flags["kube-proxy-arg"] == ["proxy-mode=ipvs"]
    assert flags["write-kubeconfig-mode"] == "0600"
    assert flags["cluster-cidr"] == "10.42.0.0/16" and flags["service-cidr"] == "10.43.0.0/16"
    assert flags["etcd-s3"] is True and flags["etcd-s3-endpoint"] == "s3.eu-central-003.backblazeb2.com"
    assert flags["etcd-s3-retention"] == 28
    for index, config in enumerate(configs, start=1):
        ip = f"10.0.1.{index + 1}"
        assert config["node-ip"] == config["advertise-address"] == ip
        assert config["node-name"] == f"honeydue-{index}"
        assert "token" not in config and "etcd-s3-secret-key" not in config
        secrets = drop_in(prod_plan, f"honeydue-k3s-{index}-install")
        assert secrets["token"].startswith("FAKE-RANDOM-honeydue-k3s-token")
        assert set(secrets) == {"token", "etcd-s3-access-key", "etcd-s3-secret-key"}


def test_every_connection_pins_the_node_host_key(prod_plan: Plan) -> None:
    commands = prod_plan.by_type(COMMAND)
    assert len(commands) >= 3 * 5 + 1
    for reg in commands:
        # The private key inside makes the whole connection a secret.
        assert isinstance(reg.inputs["connection"], SecretValue), reg.name
        connection = revealed(reg.inputs["connection"])
        match = re.match(r"honeydue-(?:k3s|firewall-sync|node-upgrades|serving)-(\d+)", reg.name)
        index = int(match.group(1)) if match else 1  # the kubeconfig is read from server 1
        # First boot pins the generated key from user data; every later step the key the node made itself.
        first_boot = reg.name.endswith(("-cloud-init", "-rekey"))
        expected = (
            fake_ed25519_public_key(f"honeydue-{index}-host-key")
            if first_boot
            else rekeyed_host_key(prod_plan, f"honeydue-k3s-{index}-rekey")
        )
        assert connection["hostKey"] == expected, reg.name
        assert connection["user"] == "root"
        assert connection["dialErrorLimit"] == -1
        assert connection["privateKey"].startswith("FAKE-PRIVATE-KEY-honeydue-deploy")
        assert "environment" not in reg.inputs, f"{reg.name}: sshd rejects `environment` (AcceptEnv)"
        assert reg.inputs.get("addPreviousOutputInEnv") is False


def test_node_steps_are_readable_and_their_secrets_go_on_stdin(prod_plan: Plan) -> None:
    """Issue 13 item 4: the `create` text is plain (a readable diff in a preview) and holds no secret the
    harness made up; the token and the S3 keys are the secret `stdin` input (pulumi-command v1.2.1 schema,
    command:remote:Command inputProperties.stdin), which the text writes to a 0600 drop-in first."""
    secrets = set(prod_plan.known_secrets)
    assert any(s.startswith("FAKE-RANDOM-honeydue-k3s-token") for s in secrets)
    for reg in prod_plan.by_type(COMMAND):
        for step in ("create", "update", "delete"):
            text = reg.inputs.get(step)
            if text is None:
                continue
            assert not isinstance(text, SecretValue), f"{reg.name}.{step} is hidden in a preview"
            assert not [s for s in secrets if s in text], f"{reg.name}.{step} carries a secret"
            assert "PLACEHOLDER" not in text, f"{reg.name}.{step} carries a config secret"
    for index in (1, 2, 3):
        for step in ("install", "converge"):
            reg = command(prod_plan, f"honeydue-k3s-{index}-{step}")
            assert drop_in(prod_plan, reg.name)["token"].startswith("FAKE-RANDOM-honeydue-k3s-token")
            assert 'cat >"$tmp"\n' in reg.inputs["create"]
            assert "/etc/rancher/k3s/config.yaml.d/00-honeydue-secrets.yaml" in reg.inputs["create"]
            assert set(reg.additional_secret_outputs) >= {"stdout", "stderr"}
        for step in ("cloud-init", "ready"):
            assert "stdin" not in command(prod_plan, f"honeydue-k3s-{index}-{step}").inputs
    fetch = command(prod_plan, "honeydue-k3s-kubeconfig")
    assert set(fetch.additional_secret_outputs) >= {"stdout", "stderr"}
    assert fetch.inputs["logging"] == "none"
    token = prod_plan.get("random:index/randomPassword:RandomPassword", "honeydue-k3s-token")
    assert token.inputs["length"] == 64 and token.inputs["special"] is False


def test_kubeconfig_is_secret_points_at_the_api_name_and_feeds_the_one_provider(prod_plan: Plan) -> None:
    provider = prod_plan.get("pulumi:providers:kubernetes", "honeydue-k3s-k8s")
    assert isinstance(provider.inputs["kubeconfig"], SecretValue)
    kubeconfig = yaml.safe_load(provider.inputs["kubeconfig"].value)
    assert kubeconfig["clusters"][0]["cluster"]["server"] == "https://k8s.honeydue.app:6443"
    assert prod_plan.outputs["apiServerUrl"] == "https://k8s.honeydue.app:6443"
    assert command(prod_plan, "honeydue-k3s-kubeconfig").urn in provider.dependencies
    providers = [r for r in prod_plan.registrations if r.type == "pulumi:providers:kubernetes"]
    assert len(providers) == 1
    for reg in prod_plan.registrations:
        if reg.custom and reg.type.startswith("kubernetes:"):
            assert reg.provider.rsplit("::", 1)[0] == provider.urn, reg.name


def test_without_an_api_name_the_kubeconfig_uses_the_first_server_ip() -> None:
    plan = run_program("prod", {"apiDnsName": ""})
    assert plan.outputs["apiServerUrl"] == f"https://{plan.outputs['nodes']['honeydue-1']['ipv4']}:6443"


def test_workloads_wait_for_the_first_server_only(prod_plan: Plan) -> None:
    deployment = prod_plan.get("kubernetes:apps/v1:Deployment", "honeydue-deployment-api")
    assert command(prod_plan, "honeydue-k3s-1-ready").urn in deployment.dependencies
    for index in (2, 3):
        assert command(prod_plan, f"honeydue-k3s-{index}-ready").urn not in deployment.dependencies


def test_first_boot_steps_never_rerun_on_an_edit_and_removal_only_deletes(prod_plan: Plan) -> None:
    for index in (1, 2, 3):
        assert command(prod_plan, f"honeydue-k3s-{index}-ready").ignore_changes == ("create",)
        # The cloud-init wait is pinned to the bootstrap host key the re-key step retires: every input but
        # `triggers` held (tests/test_host_key_rotation.py).
        assert set(command(prod_plan, f"honeydue-k3s-{index}-cloud-init").ignore_changes) == set(HELD_INPUTS)
        leave = command(prod_plan, f"honeydue-k3s-{index}-leave")
        assert set(leave.inputs) >= {"delete"} and not {"create", "update"} & set(leave.inputs)
        # Not held: releasing the node (replaceableNodes) updates the text, which runs nothing; while the node
        # is protected the text only refuses (steps.refuse_to_leave).
        assert leave.ignore_changes == ()
        assert revealed(leave.inputs["delete"]).startswith(LEAVE_REFUSED)
        # A rotated secret reaches the node through converge (same stdin), never through the held install.
        assert command(prod_plan, f"honeydue-k3s-{index}-install").ignore_changes == ("create", "stdin")
        assert "stdin" not in command(prod_plan, f"honeydue-k3s-{index}-converge").ignore_changes


def _effective_inputs(plan: Plan) -> dict[str, Any]:
    """What the engine would diff: inputs minus ignored fields, by URN."""
    return {r.urn: {k: v for k, v in r.inputs.items() if k not in r.ignore_changes} for r in plan.registrations}


def test_a_version_bump_changes_only_the_converge_steps() -> None:
    # kube-proxy left IPVS first (docs/runbook.md): a 1.35 release is refused while it is on.
    switched = {"kubeProxyMode": "iptables"}
    before = run_program("prod", switched, previous_outputs={"k3sVersion": "v1.34.6+k3s1"})
    after = run_program(
        "prod", {**switched, "k3sVersion": "v1.35.2+k3s1"}, previous_outputs={"k3sVersion": "v1.34.6+k3s1"}
    )
    old, new = _effective_inputs(before), _effective_inputs(after)
    assert old.keys() == new.keys()
    changed = sorted(urn.rsplit("::", 1)[1] for urn in old if old[urn] != new[urn])
    assert changed == [f"honeydue-k3s-{i}-converge" for i in (1, 2, 3)]
    assert "K3S_VERSION=v1.35.2+k3s1" in revealed(command(after, "honeydue-k3s-2-converge").inputs["create"])


@pytest.mark.parametrize(
    ("target", "fragment"),
    [("v1.33.9+k3s1", "can't be downgraded"), ("v1.36.0+k3s1", "skips a minor version"), ("v2.0.0+k3s1", "skips")],
)
def test_a_downgrade_or_a_skipped_minor_is_rejected(target: str, fragment: str) -> None:
    with pytest.raises(ConfigError) as caught:
        config = {"k3sVersion": target, "kubeProxyMode": "iptables"}
        run_program("prod", config, previous_outputs={"k3sVersion": "v1.34.6+k3s1"})
    assert "honeydue:k3sVersion:" in str(caught.value) and fragment in str(caught.value)


def test_a_patch_or_next_minor_upgrade_is_accepted() -> None:
    for target in ("v1.34.7+k3s1", "v1.35.0+k3s1", "v1.34.6+k3s2"):
        config = {"k3sVersion": target, "kubeProxyMode": "iptables"}
        run_program("prod", config, previous_outputs={"k3sVersion": "v1.34.6+k3s1"})


def test_the_plan_shows_every_node_step_in_full_with_nothing_redacted(prod_plan: Plan, tmp_path: Path) -> None:
    """Issue 13 item 4, in the review artifact: build/plan/nodes/commands holds each step's text as a preview
    shows it. Before, the install and converge texts carried the token and the S3 keys, which the plan writer
    replaced by labels; now there is nothing to redact."""
    write_plan(prod_plan, tmp_path, render_graph=False)
    texts = {p.name: p.read_text() for p in (tmp_path / "nodes" / "commands").iterdir()}
    assert {f"honeydue-k3s-{i}-{step}.create.sh" for i in (1, 2, 3) for step in ("install", "converge")} <= set(texts)
    labels = {f"<{label}>" for label in prod_plan.known_secrets.values()}
    for name, text in texts.items():
        assert not [label for label in labels if label in text], name
        assert "[secret]" not in text and "PLACEHOLDER" not in text, name
    converge = texts["honeydue-k3s-2-converge.create.sh"]
    assert "etcd-s3-bucket: " in converge and "K3S_VERSION=v1.34.6+k3s1" in converge
