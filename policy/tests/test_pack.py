"""The pack as the CLI loads it: PulumiPolicy.yaml, __main__.py and what the analyzer announces."""

from __future__ import annotations

import ast
from pathlib import Path

import yaml
from conftest import MANDATORY, POLICY_DIR
from honeydue_policies import PACK_NAME, POLICIES
from pulumi_policy import EnforcementLevel
from pulumi_policy.policy import _PolicyAnalyzerServicer


def test_project_file_runs_python_from_the_packs_own_venv() -> None:
    project = yaml.safe_load((POLICY_DIR / "PulumiPolicy.yaml").read_text(encoding="utf-8"))
    assert project["runtime"] == {"name": "python", "options": {"virtualenv": "venv"}}
    assert str(project["version"]).count(".") == 2


def test_main_only_builds_the_pack_from_the_importable_module() -> None:
    # PolicyPack(...) serves and blocks: read __main__.py instead of running it.
    tree = ast.parse(Path(POLICY_DIR / "__main__.py").read_text(encoding="utf-8"))
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call) and getattr(n.func, "id", "") == "PolicyPack"]
    assert len(calls) == 1
    keywords = {k.arg: ast.unparse(k.value) for k in calls[0].keywords}
    assert keywords == {
        "name": "PACK_NAME",
        "policies": "POLICIES",
        "enforcement_level": "EnforcementLevel.MANDATORY",
    }
    imported = {a.name for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) for a in n.names}
    assert {"PACK_NAME", "POLICIES"} <= imported


def test_analyzer_announces_every_policy_as_mandatory() -> None:
    # An advisory pack default: each policy must be mandatory on its own, whatever the pack says.
    servicer = _PolicyAnalyzerServicer(PACK_NAME, "0.0.1", list(POLICIES), EnforcementLevel.ADVISORY)
    info = servicer.GetAnalyzerInfo(None, None)
    assert info.name == "honeydue"
    assert {p.name: p.enforcementLevel for p in info.policies} == {p.name: MANDATORY for p in POLICIES}
    assert all(p.description for p in info.policies)
