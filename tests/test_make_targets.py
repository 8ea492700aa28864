"""The Make targets that reach the real engine enforce the policy pack, like CI; plan-diff needs a base."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
import yaml

from offline.stack_config import PROJECT_DIR


def dry_run(*args: str, path: str | None = None, flags: str = "-nB") -> subprocess.CompletedProcess[str]:
    # -n prints the recipes without running them; -B also prints the venv recipes, which shows which
    # venvs a target depends on whatever state this checkout's venvs are in.
    # Run as a top-level make even under `make test` (CI): no inherited flags, no "Entering directory" lines.
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES")}
    if path is not None:
        env["PATH"] = path
    command = ["make", "--no-print-directory", flags, *args]
    return subprocess.run(command, cwd=PROJECT_DIR, env=env, capture_output=True, text=True, timeout=60)


def fake_pulumi(tmp_path: Path, *, logged_in: bool) -> str:
    """A PATH whose `pulumi` answers `whoami` as logged in (or not) and does nothing else."""
    fake = tmp_path / "bin" / "pulumi"
    fake.parent.mkdir(exist_ok=True)
    fake.write_text(f'#!/bin/sh\n[ "$1" = whoami ] && exit {0 if logged_in else 1}\nexit 0\n')
    fake.chmod(0o755)
    return f"{fake.parent}:/usr/bin:/bin"


@pytest.mark.parametrize("target", ["preview", "up"])
def test_preview_and_up_pass_the_policy_pack_and_build_its_venv_first(target: str, tmp_path: Path) -> None:
    lines = dry_run(target, path=fake_pulumi(tmp_path, logged_in=True)).stdout.splitlines()
    (pulumi,) = [line for line in lines if line.startswith("pulumi ") and "--cwd outputs-stack" not in line]
    assert pulumi.split()[:2] == ["pulumi", target] and "--policy-pack policy" in pulumi
    policy_venv = yaml.safe_load((PROJECT_DIR / "policy" / "PulumiPolicy.yaml").read_text())["runtime"]["options"]
    # tools/env.sh builds each venv: `tools/env.sh … venv <dir> <lock>…`.
    builds = [line.split() for line in lines[: lines.index(pulumi)] if line.startswith("tools/env.sh")]
    assert any(words[3:5] == ["venv", f"policy/{policy_venv['virtualenv']}"] for words in builds), builds


SERVER_2 = "urn:pulumi:prod::honeydue::honeydue:nodes:Nodes$hcloud:index/server:Server::honeydue-2"
KUBECONFIG_STEP = "urn:pulumi:prod::honeydue::honeydue:k3s:K3sCluster$command:remote:Command::honeydue-k3s-kubeconfig"


@pytest.mark.parametrize("target", ["preview", "up"])
def test_a_local_replace_or_target_reaches_pulumi_intact_and_under_the_policy_pack(target: str, tmp_path: Path) -> None:
    # Issue 24 item 3: the runbook's `make up REPLACE='…'`. URNs hold `$`, which neither make nor the shell
    # may expand: the recipe line, run by a shell, must hand pulumi each URN byte for byte.
    path = fake_pulumi(tmp_path, logged_in=True)
    lines = dry_run(target, f"REPLACE={SERVER_2} {KUBECONFIG_STEP}", f"TARGET={SERVER_2}", path=path).stdout
    (command,) = [line for line in lines.splitlines() if line.startswith("pulumi ") and "outputs-stack" not in line]
    record = tmp_path / "bin" / "pulumi"
    record.write_text('#!/bin/sh\nfor a in "$@"; do printf "%s\\n" "$a"; done > "$ARGS"\n')
    env = {**os.environ, "PATH": path, "ARGS": str(tmp_path / "args")}
    subprocess.run(["sh", "-c", command], env=env, check=True, cwd=tmp_path)
    args = (tmp_path / "args").read_text().splitlines()
    assert args[0] == target and args[args.index("--policy-pack") + 1] == "policy"
    assert [a for a in args if a.startswith("--replace=")] == [f"--replace={SERVER_2}", f"--replace={KUBECONFIG_STEP}"]
    assert [a for a in args if a.startswith("--target=")] == [f"--target={SERVER_2}"]


def test_plan_diff_without_base_says_how_to_call_it_before_building_anything() -> None:
    run = dry_run("plan-diff")
    assert run.returncode != 0 and "usage: make plan-diff BASE=<git ref>" in run.stderr and not run.stdout
    command = dry_run("plan-diff", "BASE=origin/main").stdout.splitlines()[-1].removeprefix("@")
    assert command.endswith("-m offline.plan_diff --base 'origin/main' --stack prod --out build/plan-diff.md")


@pytest.mark.parametrize("target", ["preview", "up", "kubeconfig", "deploy-key"])
@pytest.mark.parametrize(
    ("logged_in", "expected"),
    [(None, "the Pulumi CLI is not installed"), (False, "the Pulumi CLI is not logged in: run `pulumi login`")],
)
def test_without_the_cli_or_a_login_a_target_says_so_in_one_line_before_building_anything(
    target: str, logged_in: bool | None, expected: str, tmp_path: Path
) -> None:
    # Issue 24 item 5: no policy venv built, no second error from a state reader fed nothing.
    path = "/usr/bin:/bin" if logged_in is None else fake_pulumi(tmp_path, logged_in=logged_in)
    run = dry_run(target, path=path, flags="-B")
    assert run.returncode != 0 and not run.stdout
    (line,) = run.stderr.splitlines()
    assert expected in line


@pytest.mark.parametrize(
    ("target", "written"), [("kubeconfig", "kubeconfig-prod.yaml"), ("deploy-key", "deploy-key-prod")]
)
def test_a_credential_file_is_0600_even_when_an_older_one_was_readable(
    target: str, written: str, tmp_path: Path
) -> None:
    # Issue 22 item 7: umask 077 sets the mode of a new file only; an older 0644 copy must not keep its mode.
    import json
    import shutil

    k8s = "urn:pulumi:prod::honeydue::pulumi:providers:kubernetes::honeydue-k3s-k8s"
    key = "urn:pulumi:prod::honeydue::tls:index/privateKey:PrivateKey::honeydue-deploy"
    export = {"deployment": {"resources": [
        {"type": "pulumi:providers:kubernetes", "urn": k8s, "inputs": {"kubeconfig": "apiVersion: v1\n"}},
        {"type": "tls:index/privateKey:PrivateKey", "urn": key,
         "outputs": {"privateKeyOpenssh": "-----BEGIN OPENSSH PRIVATE KEY-----\n"}},
    ]}}  # fmt: skip
    project = tmp_path / "project"
    shutil.copytree(
        PROJECT_DIR, project, ignore=shutil.ignore_patterns("venv", "build", ".git", "policy"), symlinks=True
    )
    (project / "venv").symlink_to(PROJECT_DIR / "venv")
    (project / "build").mkdir()
    old = project / "build" / written
    old.write_text("old\n")
    old.chmod(0o644)
    path = fake_pulumi(tmp_path, logged_in=True)
    fake = tmp_path / "bin" / "pulumi"
    fake.write_text(f"#!/bin/sh\n[ \"$1\" = whoami ] && exit 0\ncat <<'EOF'\n{json.dumps(export)}\nEOF\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAKE")} | {"PATH": path}
    run = subprocess.run(["make", "--no-print-directory", "-o", "venv/.runtime", target], cwd=project, env=env,
                         capture_output=True, text=True, timeout=60)  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert old.stat().st_mode & 0o777 == 0o600 and old.read_text() != "old\n"


def test_make_up_hands_the_new_outputs_to_the_consumers_stack(tmp_path: Path) -> None:
    # Review: a local `up` (a token rotation, a node replacement) must reach consumers as CI's does.
    lines = dry_run("up", path=fake_pulumi(tmp_path, logged_in=True)).stdout.splitlines()
    pulumi = [line for line in lines if line.startswith("pulumi up ")]
    assert pulumi[0].startswith("pulumi up --stack prod --policy-pack policy")
    assert pulumi[1] == "pulumi up --cwd outputs-stack --stack prod --yes --skip-preview"
