"""Runs the policy pack's own tests (policy/tests) in the pack's venv, so `make test` covers them.

pulumi-policy pins an older protobuf than this venv has, so the pack lives in policy/venv and its tests
run there as a subprocess; this venv only exports the plan they check (policy/export_plan.py).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

PROJECT_DIR = Path(__file__).resolve().parents[1]
POLICY_DIR = PROJECT_DIR / "policy"
POLICY_PYTHON = POLICY_DIR / "venv" / "bin" / "python"


@pytest.fixture(scope="module")
def policy_python() -> Path:
    """The pack's venv, built by the Makefile rule if missing (make unit depends on it too)."""
    if not (POLICY_DIR / "venv" / ".installed").exists():
        subprocess.run(["make", "policy/venv/.installed"], cwd=PROJECT_DIR, check=True, timeout=900)
    return POLICY_PYTHON


def test_policy_pack_tests_pass(policy_python: Path, tmp_path: Path) -> None:
    export = subprocess.run(
        [sys.executable, str(POLICY_DIR / "export_plan.py"), "--out-dir", str(tmp_path)],
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert export.returncode == 0, export.stdout + export.stderr
    env = {**os.environ, "HONEYDUE_PLAN_DIR": str(tmp_path)}
    run = subprocess.run(
        [str(policy_python), "-m", "pytest", "-p", "no:cacheprovider", "tests"],
        cwd=POLICY_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert " passed" in run.stdout and "skipped" not in run.stdout, run.stdout


def test_policy_venv_keeps_its_own_protobuf(policy_python: Path) -> None:
    """The reason for the second venv: both pins hold, and neither leaks into the other."""
    pinned = {
        line.split("==")[0].lower(): line.split("==")[1].split()[0]
        for line in (POLICY_DIR / "requirements.txt").read_text().splitlines()
        if "==" in line and not line.startswith("#")
    }
    assert "pulumi-policy" in pinned
    script = "import google.protobuf, pulumi_policy, importlib.metadata as m; print(m.version('protobuf'))"
    version = subprocess.run([str(policy_python), "-c", script], capture_output=True, text=True, check=True)
    assert version.stdout.strip() == pinned["protobuf"]
    with pytest.raises(ImportError):
        __import__("pulumi_policy")
