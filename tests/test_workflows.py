"""The GitHub workflows: valid against GitHub's workflow schema, and doing what issue 7 asks of each.

The schema check runs `check-jsonschema --builtin-schema vendor.github-workflows` from this venv; the
schema is vendored in the package, so it needs no network (verified with the network unshared).
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

PROJECT_DIR = Path(__file__).resolve().parents[1]
WORKFLOWS = PROJECT_DIR / ".github" / "workflows"
CHECK_JSONSCHEMA = PROJECT_DIR / "venv" / "bin" / "check-jsonschema"
NAMES = ("preview", "up", "drift")
PULUMI_ACTION = "pulumi/actions@v7"
# Each workflow's write permissions, and why: the PR comment, the drift issue. `up` needs none.
WRITES = {"preview": {"pull-requests"}, "up": set(), "drift": {"issues"}}
CONFIG_LINE = re.compile(r"^(honeydue:\w+): \{value: \$\{\{ toJSON\(secrets\.(\w+)\) \}\}, secret: true\}$")


def load(name: str) -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((WORKFLOWS / f"{name}.yml").read_text(encoding="utf-8"))
    # YAML 1.1 reads the key `on` as the boolean True.
    document["on"] = document.pop(True, document.get("on"))
    return document


def steps(workflow: dict[str, Any]) -> list[dict[str, Any]]:
    return [step for job in workflow["jobs"].values() for step in job.get("steps", [])]


def pulumi_step(workflow: dict[str, Any]) -> dict[str, Any]:
    found = [s for s in steps(workflow) if s.get("uses") == PULUMI_ACTION]
    assert len(found) == 1, f"expected one {PULUMI_ACTION} step"
    return found[0]


def concurrency(workflow: dict[str, Any]) -> list[dict[str, Any]]:
    blocks = [workflow.get("concurrency")] + [job.get("concurrency") for job in workflow["jobs"].values()]
    return [b for b in blocks if b]


def secret_keys() -> list[str]:
    declared = yaml.safe_load((PROJECT_DIR / "Pulumi.yaml").read_text(encoding="utf-8"))["config"]
    return sorted(k for k, spec in declared.items() if spec.get("secret"))


def upper_snake(key: str) -> str:
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", key).upper()


def test_every_workflow_is_here() -> None:
    assert sorted(p.stem for p in WORKFLOWS.glob("*.yml")) == sorted(NAMES)


def test_workflows_match_the_github_workflow_schema() -> None:
    files = [str(WORKFLOWS / f"{name}.yml") for name in NAMES]
    run = subprocess.run(
        [str(CHECK_JSONSCHEMA), "--builtin-schema", "vendor.github-workflows", *files],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stdout + run.stderr


def test_schema_check_rejects_a_broken_workflow(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yml"
    broken.write_text("on: push\npermissions: write-some\njobs:\n  x:\n    steps:\n      - run: true\n")
    run = subprocess.run(
        [str(CHECK_JSONSCHEMA), "--builtin-schema", "vendor.github-workflows", str(broken)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 1 and "runs-on" in run.stdout + run.stderr


@pytest.mark.parametrize("name", NAMES)
def test_least_privilege_permissions(name: str) -> None:
    workflow = load(name)
    permissions = workflow["permissions"]
    assert isinstance(permissions, dict), "permissions must be listed scope by scope"
    assert permissions.get("contents") == "read"
    assert {scope for scope, level in permissions.items() if level == "write"} == WRITES[name]
    assert all("permissions" not in job for job in workflow["jobs"].values())


@pytest.mark.parametrize("name", NAMES)
def test_actions_are_pinned_to_major_tags(name: str) -> None:
    uses = [s["uses"] for s in steps(load(name)) if "uses" in s]
    assert uses and all(re.fullmatch(r"[\w.-]+/[\w.-]+@v\d+", u) for u in uses), uses
    assert "actions/setup-python@v6" in uses and "actions/checkout@v6" in uses


@pytest.mark.parametrize("name", NAMES)
def test_python_311_venv_and_pulumi_cli_of_the_sdk(name: str) -> None:
    workflow = load(name)
    setup = next(s for s in steps(workflow) if s.get("uses") == "actions/setup-python@v6")
    assert setup["with"]["python-version"] == "3.11"
    scripts = "\n".join(s.get("run", "") for s in steps(workflow))
    assert "python -m venv venv" in scripts and "venv/bin/pip install" in scripts and "-r requirements.txt" in scripts
    # requirements.txt is the hashed lock: `name==version \` lines, each followed by its --hash lines.
    pins = dict(re.findall(r"^([\w.-]+)==([^\s\\;]+)", (PROJECT_DIR / "requirements.txt").read_text(), re.M))
    step = pulumi_step(workflow)
    assert step["with"]["stack-name"] == "prod"
    assert step["with"]["pulumi-version"] == pins["pulumi"], "the CLI is released with the SDK of the same version"
    assert step["env"]["PULUMI_ACCESS_TOKEN"] == "${{ secrets.PULUMI_ACCESS_TOKEN }}"


@pytest.mark.parametrize("name", NAMES)
def test_every_stack_secret_is_provided_as_secret_config(name: str) -> None:
    lines = pulumi_step(load(name))["with"]["config-map"].strip().splitlines()
    matches = [CONFIG_LINE.fullmatch(line.strip()) for line in lines]
    assert all(matches), [line for line, m in zip(lines, matches, strict=True) if not m]
    provided = {m.group(1): m.group(2) for m in matches if m}
    assert provided == {f"honeydue:{k}": upper_snake(k) for k in secret_keys()}
    # What the action parses once GitHub has substituted toJSON(...): quotes, colons, braces survive.
    nasty = 'p@ss:"w{o}rd\\ #1'
    text = "\n".join(re.sub(r"\$\{\{.*?\}\}", lambda _: json.dumps(nasty), line) for line in lines)
    assert yaml.safe_load(text) == {key: {"value": nasty, "secret": True} for key in provided}


def test_preview_comments_on_pull_requests_through_the_policy_pack() -> None:
    workflow = load("preview")
    assert "pull_request" in workflow["on"]
    step = pulumi_step(workflow)["with"]
    assert step["command"] == "preview"
    assert step["comment-on-pr"] is True
    assert step["policyPacks"] == "policy" and (PROJECT_DIR / "policy" / "PulumiPolicy.yaml").exists()
    scripts = "\n".join(s.get("run", "") for s in steps(workflow))
    assert "python -m venv policy/venv" in scripts and "-r policy/requirements.txt" in scripts


def test_up_runs_on_main_behind_production_without_overlap() -> None:
    workflow = load("up")
    assert workflow["on"] == {"push": {"branches": ["main"]}}
    (job,) = workflow["jobs"].values()
    environment = job["environment"]
    assert (environment if isinstance(environment, str) else environment["name"]) == "production"
    (block,) = concurrency(workflow)
    assert block["group"] and block["cancel-in-progress"] is False
    step = pulumi_step(workflow)["with"]
    assert step["command"] == "up" and step["policyPacks"] == "policy"


def test_drift_previews_daily_with_refresh_and_fails_on_changes() -> None:
    workflow = load("drift")
    triggers = workflow["on"]
    assert "workflow_dispatch" in triggers
    (schedule,) = triggers["schedule"]
    minute, hour, day, month, weekday = schedule["cron"].split()
    assert minute.isdigit() and hour.isdigit() and (day, month, weekday) == ("*", "*", "*"), "once a day"
    step = pulumi_step(workflow)
    assert step["with"]["command"] == "preview", "a preview writes no state"
    assert step["with"]["refresh"] is True and step["with"]["expect-no-changes"] is True
    report = [s for s in steps(workflow) if "failure()" in str(s.get("if", ""))]
    assert report and f"steps.{step['id']}.outcome == 'failure'" in report[0]["if"]
    assert "gh issue create" in report[0]["run"]
