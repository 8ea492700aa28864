"""tools/adopt_keys.py: the deploy key reaches adopted nodes over the operator's SSH, host keys pinned.

The remote script runs for real with sh in a throwaway root (HONEYDUE_ROOT) with a fake sshd on PATH.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from offline.adoption_world import host_key
from offline.harness import run_program
from offline.records import Plan
from tools import adopt_keys
from tools.adopt_keys import (
    REMOTE_SCRIPT,
    AdoptKeysError,
    deploy_key_targets,
    deploy_public_key,
    engine_urn,
    known_hosts,
    server_addresses,
    ssh_command,
)

DEPLOY = host_key("deploy") + " honeydue-deploy"


def _state(public_key: str) -> dict[str, object]:
    """The shape of `pulumi stack export` (version 3 deployment; outputs of the tls key in plaintext)."""
    urn = "urn:pulumi:prod::honeydue::honeydue:nodes:Nodes$tls:index/privateKey:PrivateKey::honeydue-deploy"
    secret = {"4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270", "ciphertext": "v1:..."}
    outputs = {"publicKeyOpenssh": public_key + "\n", "privateKeyOpenssh": secret}
    resource = {"urn": urn, "type": "tls:index/privateKey:PrivateKey", "outputs": outputs}
    return {"version": 3, "deployment": {"resources": [resource]}}


def test_the_deploy_public_key_comes_from_state_and_is_named() -> None:
    assert deploy_public_key(_state(host_key("deploy"))) == DEPLOY


def test_no_deploy_key_in_state_says_how_to_create_it() -> None:
    with pytest.raises(AdoptKeysError, match="create it first with the targeted `pulumi up`"):
        deploy_public_key({"version": 3, "deployment": {"resources": []}})


def test_known_hosts_pin_each_node_to_its_address_only() -> None:
    keys = {"honeydue-1": host_key("honeydue-1")}
    assert known_hosts({"honeydue-1": "203.0.113.10"}, keys) == f"203.0.113.10 {host_key('honeydue-1')}\n"
    with pytest.raises(AdoptKeysError, match="no server named honeydue-1"):
        known_hosts({}, keys)


def test_ssh_refuses_unknown_host_keys_and_never_prompts(tmp_path: Path) -> None:
    command = ssh_command("203.0.113.10", tmp_path / "known_hosts", DEPLOY)
    assert command[-2:] == ["root@203.0.113.10", f"sh -s -- '{DEPLOY}'"]
    options = set(command[1:-2]) - {"-o"}
    assert {"BatchMode=yes", "StrictHostKeyChecking=yes", f"UserKnownHostsFile={tmp_path / 'known_hosts'}"} <= options


def test_addresses_come_from_hcloud_server_list() -> None:
    servers = [{"name": "honeydue-1", "public_net": {"ipv4": {"ip": "203.0.113.10"}}}, {"name": "x", "public_net": {}}]
    assert server_addresses(servers) == {"honeydue-1": "203.0.113.10"}


def test_targets_hold_the_deploy_keys_with_their_parent_and_providers(prod_plan: Plan) -> None:
    targets = deploy_key_targets(prod_plan)
    by_urn = prod_plan.by_urn()
    assert {by_urn[t].name for t in targets} == {"honeydue-deploy", "honeydue", "hcloud", "tls"}
    for urn in targets:
        reg = by_urn[urn]
        # Closed: every target's parent (below the stack) and provider is targeted too.
        assert reg.parent in targets or reg.parent.endswith("::pulumi:pulumi:Stack::honeydue-prod"), urn
        assert not reg.provider or reg.provider.rsplit("::", 1)[0] in targets, urn
    assert engine_urn(targets[0]).count("pulumi:pulumi:Stack") == 0


needs_sh = pytest.mark.skipif(shutil.which("sh") is None, reason="needs sh")


def _remote(
    root: Path, sshd_settings: str = "permitrootlogin prohibit-password\npubkeyauthentication yes\n"
) -> subprocess.CompletedProcess[str]:
    fake_bin = root.parent / "bin"
    fake_bin.mkdir(exist_ok=True)
    sshd = fake_bin / "sshd"
    sshd.write_text(f"#!/bin/sh\ncat <<'EOF'\n{sshd_settings}EOF\n")
    sshd.chmod(0o755)
    env = {"PATH": f"{fake_bin}:/usr/bin:/bin", "HONEYDUE_ROOT": str(root)}
    return subprocess.run(
        ["sh", "-s", "--", DEPLOY], input=REMOTE_SCRIPT, env=env, capture_output=True, text=True, timeout=10
    )


@needs_sh
def test_the_key_is_added_once_after_the_operators_keys(tmp_path: Path) -> None:
    root = tmp_path / "root"
    authorized = root / "root/.ssh/authorized_keys"
    authorized.parent.mkdir(parents=True)
    authorized.write_text("ssh-ed25519 AAAAoperator ops@honeydue")  # no final newline

    first, second = _remote(root), _remote(root)

    assert first.returncode == second.returncode == 0, first.stderr + second.stderr
    assert "added" in first.stdout and "already authorized" in second.stdout
    assert authorized.read_text() == f"ssh-ed25519 AAAAoperator ops@honeydue\n{DEPLOY}\n"


@needs_sh
def test_a_node_without_ssh_dir_gets_a_private_one(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    assert _remote(root).returncode == 0
    assert (root / "root/.ssh").stat().st_mode & 0o777 == 0o700
    assert (root / "root/.ssh/authorized_keys").stat().st_mode & 0o777 == 0o600


@needs_sh
@pytest.mark.parametrize("refusal", ["permitrootlogin no", "pubkeyauthentication no"])
def test_sshd_that_refuses_root_keys_fails_the_check(tmp_path: Path, refusal: str) -> None:
    root = tmp_path / "root"
    root.mkdir()
    proc = _remote(root, f"port 22\n{refusal}\n")
    assert proc.returncode == 1
    assert f"sshd has '{refusal}'" in proc.stderr


def test_the_migration_line_hands_pulumi_every_target_unchanged(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # docs/migration.md runs `make up TARGET="$(make -s adopt-targets)"`. The shell passes the substitution
    # as one word; make must not expand the URNs' `$`, and its recipe's shell must hand pulumi each URN as
    # one argument. Run as written: the inner make prints the targets, the outer one its recipe (-n).
    line = next(
        ln.split("#")[0].strip()
        for ln in (Path(__file__).resolve().parents[1] / "docs" / "migration.md").read_text().splitlines()
        if "adopt-targets)" in ln
    )
    assert line == 'make up TARGET="$(make -s adopt-targets)"'
    assert adopt_keys.main(["--targets"]) == 0
    (tmp_path / "targets").write_text(capsys.readouterr().out)
    fake = tmp_path / "bin" / "pulumi"
    fake.parent.mkdir()
    fake.write_text('#!/bin/sh\n[ "$1" = whoami ] && exit 0\nfor a in "$@"; do printf "%s\\n" "$a"; done > "$ARGS"\n')
    fake.chmod(0o755)
    project = Path(__file__).resolve().parents[1]
    command = line.replace("make -s adopt-targets", f"cat {tmp_path / 'targets'}").replace(
        "make up", f"make --no-print-directory -nB -C {project} up"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAKE") and k != "MFLAGS"}
    env.update(PATH=f"{fake.parent}:/usr/bin:/bin", ARGS=str(tmp_path / "args"))
    printed = subprocess.run(["bash", "-c", command], env=env, check=True, cwd=tmp_path, capture_output=True, text=True)
    (recipe,) = [ln for ln in printed.stdout.splitlines() if ln.startswith("pulumi up ")]
    subprocess.run(["sh", "-c", recipe], env=env, check=True, cwd=tmp_path)
    args = (tmp_path / "args").read_text().splitlines()
    expected = {engine_urn(u) for u in deploy_key_targets(run_program("prod"))}
    assert args[0] == "up" and "--policy-pack" in args
    assert {a.removeprefix("--target=") for a in args if a.startswith("--target=")} == expected


def test_the_migration_pins_host_keys_after_the_targeted_up_and_each_step_s_config_evaluates() -> None:
    # Issue 24 (review): the targeted `up` of step 3 evaluates the whole program, which refuses a pinned host
    # key for a node not being adopted. So the pins come after it, with adoptIds in the same pull request.
    from components.config.reader import ConfigError
    from offline.adoption_world import adopt_overrides

    text = (Path(__file__).resolve().parents[1] / "docs" / "migration.md").read_text()
    order = [
        'make up TARGET="$(make -s adopt-targets)"',
        "honeydue:adoptedHostKeys[0]",
        "make adopt-keys LIVE=",
        "honeydue:adoptIds[0]",
    ]
    assert [text.index(step) for step in order] == sorted(text.index(step) for step in order)
    config, _ = adopt_overrides(run_program("prod"))
    targeted = {"k3sToken": config["k3sToken"]}  # step 1: the running token; no pins, no ids yet
    assert deploy_key_targets(run_program("prod", targeted, previous_outputs={}))
    with pytest.raises(ConfigError, match="adoptedHostKeys: honeydue-1 is neither being adopted"):
        run_program("prod", {**targeted, "adoptedHostKeys": config["adoptedHostKeys"]}, previous_outputs={})
    run_program("prod", config, previous_outputs={})  # steps 3 and 4 together: the adoption's pull request
