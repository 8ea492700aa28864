"""Rotating the deploy key (issue 19 item 6): one generation per `up`, authorized on every running node with the
previous key before any step logs in with the new one; Hetzner keys named per generation."""

from __future__ import annotations

import functools
import os
import subprocess
from pathlib import Path

from components.config.deployed import deployed_state_problems
from components.k3s.deploy_key import authorize_command
from offline.fakes import fake_ed25519_public_key
from offline.records import SecretValue
from offline.scenarios import Outcome, run
from tests.conftest import load_prod

NODES = (1, 2, 3)


@functools.cache
def outcome(name: str) -> Outcome:
    return run(name)


def _key(value: object) -> str:
    return str(value.value if isinstance(value, SecretValue) else value)


def test_a_rotation_creates_the_next_key_first_and_authorizes_it_on_every_node_before_use() -> None:
    item = outcome("rotate-deploy-key")
    diff, program = item.diff, item.program
    touched = {c.name: c.action for c in diff.changes if c.action != "same"}
    created = sorted((c.type.split(":")[-1], c.name) for c in diff.changes if c.action == "create")
    assert created == sorted(
        [("PrivateKey", "honeydue-deploy-2"), ("SshKey", "honeydue-deploy-2")]
        + [("Command", f"honeydue-k3s-{i}-deploy-key-2") for i in NODES]
    )
    gone = [(c.type.split(":")[-1], c.name) for c in diff.changes if c.action in ("delete", "replace")]
    assert gone == [("SshKey", "honeydue-deploy")]  # at the end, after the new key exists
    assert not item.failures and not diff.blocked()
    old_private = next(
        _key(out["privateKeyOpenssh"])
        for urn, (_, out) in program.resource_outputs.items()
        if urn.endswith("PrivateKey::honeydue-deploy")
    )
    for i in NODES:
        step = program.get("command:remote:Command", f"honeydue-k3s-{i}-deploy-key-2")
        connection = step.inputs["connection"]
        connection = connection.value if isinstance(connection, SecretValue) else connection
        assert _key(connection["privateKey"]) == old_private
        later = [n for n, a in touched.items() if a == "update" and n.endswith(f"-{i}-converge")]
        assert later and all(diff.forced_before(step.name, n) for n in later)
    sshkeys = program.by_type("hcloud:index/sshKey:SshKey")
    assert len({r.inputs["name"] for r in sshkeys}) == len(sshkeys)


def test_the_old_runbook_path_fails_the_way_upstream_says() -> None:
    # --replace of the key: create-first SshKey of the same name (uniqueness_error) and steps logging in with
    # a key no running node holds (servers' ssh_keys are held). The model has to show both.
    item = outcome("rotate-deploy-key-by-replace")
    sshkey = next(c for c in item.diff.changes if c.type == "hcloud:index/sshKey:SshKey" and c.action == "replace")
    assert "uniqueness_error" in sshkey.blocked
    assert any("does not hold" in f for f in item.failures)


def test_the_generation_moves_one_step_at_a_time() -> None:
    config = load_prod({"deployKeyGeneration": 3})
    problems = deployed_state_problems(
        config, previous_version="v1.34.6+k3s1", previous_token_source="random", previous_key_generation=1
    )
    assert any("deployKeyGeneration" in p and "only stay or become 2" in p for p in problems)
    assert not [
        p
        for p in deployed_state_problems(
            load_prod({"deployKeyGeneration": 2}),
            previous_version="v1.34.6+k3s1",
            previous_token_source="random",
            previous_key_generation=1,
        )
        if "deployKeyGeneration" in p
    ]


def test_the_authorize_script_swaps_the_deploy_key_and_keeps_the_operators(tmp_path: Path) -> None:
    new, old, operator = (fake_ed25519_public_key(n) for n in ("new", "old", "operator"))
    ssh = tmp_path / "root" / ".ssh"
    ssh.mkdir(parents=True)
    (ssh / "authorized_keys").write_text(f"{operator} alice@laptop\n{old} honeydue-deploy\n")
    text = authorize_command(new, old)
    for _ in range(2):  # a second run (the step re-run after a failure) changes nothing
        done = subprocess.run(
            ["sh", "-c", text], env={**os.environ, "HONEYDUE_ROOT": str(tmp_path)}, capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr
        lines = (ssh / "authorized_keys").read_text().splitlines()
        assert lines == [f"{operator} alice@laptop", f"{new} honeydue-deploy"]
    assert oct((ssh / "authorized_keys").stat().st_mode & 0o777) == "0o600"
    refused = subprocess.run(
        ["sh", "-c", authorize_command(new, new)],
        env={**os.environ, "HONEYDUE_ROOT": str(tmp_path)},
        capture_output=True,
    )
    assert refused.returncode != 0


def test_a_rotation_reaches_adopted_nodes_before_their_first_steps_dial() -> None:
    # An adopted node's first steps don't hold their connection (review of issue 19): the key is authorized
    # before them, over the node's own pinned host key; the model checks every dial against that order.
    item = outcome("rotate-deploy-key-adopted")
    assert not item.failures and not item.diff.blocked()
    for i in NODES:
        assert item.diff.forced_before(f"honeydue-k3s-{i}-deploy-key-2", f"honeydue-k3s-{i}-cloud-init")


def test_a_rotation_is_an_up_of_its_own() -> None:
    busy = deployed_state_problems(
        load_prod({"deployKeyGeneration": 2, "replaceableNodes": ["honeydue-2"]}),
        previous_version="v1.34.6+k3s1",
        previous_token_source="random",
        previous_key_generation=1,
        leaving_nodes=frozenset({"honeydue-agent-1"}),
    )
    assert any("an `up` of its own" in p and "honeydue-2, honeydue-agent-1" in p for p in busy)
