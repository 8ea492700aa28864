"""No live secret in user data (issue 20 item 4).

Hetzner's metadata service serves a server's user data for its whole life. What it holds: the bootstrap SSH
host key (the only secret), the firewall script and the apt settings. Right after first boot the node makes
its own host key (scripts/node/rotate-host-key.sh) over the connection pinned to the bootstrap one, and every
later step pins the new key; the K3s token and the S3 keys travel only on those later steps' stdin.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import yaml

from components.k3s.host_key import HELD_INPUTS, SCRIPT
from offline.plan import revealed
from offline.records import Plan, SecretValue
from tests.conftest import rekeyed_host_key

COMMAND = "command:remote:Command"


def _nodes(plan: Plan) -> list[tuple[str, str]]:
    """(server name, its steps' prefix) for every node of the plan."""
    out = []
    for server in plan.by_type("hcloud:index/server:Server"):
        name = server.name
        index = name.rsplit("-", 1)[1]
        out.append((name, f"honeydue-k3s-agent-{index}" if "-agent-" in name else f"honeydue-k3s-{index}"))
    return out


def test_user_data_holds_no_secret_but_the_bootstrap_host_key(prod_plan: Plan) -> None:
    made_up = {s for s in prod_plan.known_secrets if len(s) >= 8}
    for server in prod_plan.by_type("hcloud:index/server:Server"):
        user_data = revealed(server.inputs["userData"])
        document = yaml.safe_load(user_data)
        assert set(document["ssh_keys"]) == {"ed25519_private", "ed25519_public"}, server.name
        rest = user_data.replace(document["ssh_keys"]["ed25519_private"].strip(), "")
        leaked = [s for s in made_up if s in rest]
        assert not leaked, f"{server.name}: user data holds {leaked}"
        assert "PRIVATE KEY" not in rest and "token:" not in rest, server.name


def test_every_step_after_first_boot_pins_the_key_the_node_made(prod_plan: Plan) -> None:
    for server, prefix in _nodes(prod_plan):
        rekey = prod_plan.get(COMMAND, f"{prefix}-rekey")
        cloud_init = prod_plan.get(COMMAND, f"{prefix}-cloud-init")
        bootstrap = revealed(cloud_init.inputs["connection"])["hostKey"]
        made = rekeyed_host_key(prod_plan, rekey.name)
        assert revealed(rekey.inputs["connection"])["hostKey"] == bootstrap != made, server
        assert prod_plan.waits_for(rekey, cloud_init)
        for step in prod_plan.by_type(COMMAND):
            connection = revealed(step.inputs["connection"])
            if connection["host"] != revealed(cloud_init.inputs["connection"])["host"] or step in (rekey, cloud_init):
                continue
            assert connection["hostKey"] == made, f"{step.name} pins the bootstrap key of {server}"
            assert prod_plan.waits_for(step, rekey), step.name


def test_secrets_travel_only_over_the_rotated_connection(prod_plan: Plan) -> None:
    carrying = [r for r in prod_plan.by_type(COMMAND) if isinstance(r.inputs.get("stdin"), SecretValue)]
    assert carrying, "the token and the S3 keys go on stdin"
    kubeconfig = prod_plan.get(COMMAND, "honeydue-k3s-kubeconfig")
    for step in [*carrying, kubeconfig]:
        rekeys = [r for r in prod_plan.by_type(COMMAND) if r.name.endswith("-rekey") and prod_plan.waits_for(step, r)]
        assert rekeys, f"{step.name} may run before its node's host key is its own"


def test_the_rekey_step_never_runs_again_on_its_node(prod_plan: Plan) -> None:
    """It pins the bootstrap key, which the node no longer serves, and its stdout is every later step's pin:
    every input but `triggers` is held, so only a new server (new id) runs it again, from scratch."""
    for _, prefix in _nodes(prod_plan):
        # The cloud-init wait before it pins the same bootstrap key: held the same way.
        for step in ("rekey", "cloud-init"):
            reg = prod_plan.get(COMMAND, f"{prefix}-{step}")
            assert set(reg.ignore_changes) == set(HELD_INPUTS), reg.name
            assert "triggers" not in reg.ignore_changes and reg.inputs["triggers"], reg.name
        assert "connection" in HELD_INPUTS and "update" in HELD_INPUTS and "create" in HELD_INPUTS


def test_the_script_replaces_the_key_and_prints_the_new_public_half(tmp_path: Path) -> None:
    ssh = tmp_path / "etc" / "ssh"
    ssh.mkdir(parents=True)
    key = ssh / "ssh_host_ed25519_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    bootstrap = key.read_text()
    out = subprocess.run(
        ["bash", str(SCRIPT)],
        env={**os.environ, "HONEYDUE_ROOT": str(tmp_path)},
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    ).stdout
    assert key.read_text() != bootstrap
    kind, blob = out.split()
    assert kind == "ssh-ed25519" and (ssh / "ssh_host_ed25519_key.pub").read_text().split()[:2] == [kind, blob]
    assert oct(key.stat().st_mode & 0o777) == "0o600"
    derived = subprocess.run(["ssh-keygen", "-y", "-f", str(key)], capture_output=True, text=True, check=True)
    assert derived.stdout.split()[:2] == [kind, blob], "the printed key is not the private key's public half"
    assert not [p for p in ssh.iterdir() if p.name.startswith(".honeydue")], "work files left behind"
