"""The GitHub workflows: valid against GitHub's workflow schema, pinned, least privilege, and no PR job
that can reach a write credential (issues 7 and 13).

The schema check runs `check-jsonschema --builtin-schema vendor.github-workflows` from this venv; the
schema is vendored in the package, so it needs no network (verified with the network unshared).
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

PROJECT_DIR = Path(__file__).resolve().parents[1]
WORKFLOWS = PROJECT_DIR / ".github" / "workflows"
CHECK_JSONSCHEMA = PROJECT_DIR / "venv" / "bin" / "check-jsonschema"
NAMES = ("preview", "plan-diff", "plan-diff-comment", "up", "drift")
PR_TRIGGERS = {"pull_request", "pull_request_target"}
# Every action, at the commit of its release tag: read with the `fetch` tool from each action's
# repository (`git rev-parse <tag>^{commit}`), each a node24 action.
PINS = {
    "actions/checkout": ("3d3c42e5aac5ba805825da76410c181273ba90b1", "v7.0.1"),
    "actions/setup-python": ("5fda3b95a4ea91299a34e894583c3862153e4b97", "v7.0.0"),
    "actions/upload-artifact": ("bbbca2ddaa5d8feaa63e36b76fdaad77386f024f", "v7.0.0"),
    "pulumi/actions": ("8e5e406f4007fca908480587cb9893c07090f58d", "v7.0.0"),
    "pulumi/auth-actions": ("141415910c3beb54e03b48e9057c204c97b956f2", "v2.1.0"),
}
# The token scopes each job may write with, and why: OIDC for the Pulumi login, the PR comment (in a
# job that runs no PR code), the drift issue (in a job without cloud credentials).
WRITES = {
    ("preview", "deployer"): set(),
    ("preview", "preview"): {"id-token"},
    ("plan-diff", "plan-diff"): set(),
    ("plan-diff-comment", "comment"): {"pull-requests"},
    ("up", "deployer"): set(),
    ("up", "up"): {"id-token"},
    ("drift", "deployer"): set(),
    ("drift", "drift"): {"id-token"},
    ("drift", "report"): {"issues"},
}
DEPLOYER_RUNS_ON = ["self-hosted", "${{ vars.PULUMI_RUNNER }}"]


def load(name: str) -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((WORKFLOWS / f"{name}.yml").read_text(encoding="utf-8"))
    # YAML 1.1 reads the key `on` as the boolean True.
    document["on"] = document.pop(True, document.get("on"))
    return document


def environments() -> dict[str, dict[str, Any]]:
    return dict(yaml.safe_load((PROJECT_DIR / ".github" / "environments.yml").read_text()))


def jobs() -> list[tuple[str, str, dict[str, Any]]]:
    return [(name, job_id, job) for name in NAMES for job_id, job in load(name)["jobs"].items()]


def steps(job: dict[str, Any]) -> list[dict[str, Any]]:
    return list(job.get("steps", []))


def uses(job: dict[str, Any], action: str) -> list[dict[str, Any]]:
    return [s for s in steps(job) if str(s.get("uses", "")).startswith(action + "@")]


def only(job: dict[str, Any], action: str) -> dict[str, Any]:
    (step,) = uses(job, action)
    return step


def environment_name(job: dict[str, Any]) -> str | None:
    environment = job.get("environment")
    return environment if isinstance(environment, str) or environment is None else environment["name"]


def triggers(name: str) -> set[str]:
    on = load(name)["on"]
    return {on} if isinstance(on, str) else set(on)


# ----------------------------------------------------------------------------------- schema, pins


def test_every_workflow_is_here() -> None:
    assert sorted(p.stem for p in WORKFLOWS.glob("*.yml")) == sorted(NAMES)
    assert not list(WORKFLOWS.glob("*.yaml"))


def check_schema(*files: Path) -> subprocess.CompletedProcess[str]:
    command = [str(CHECK_JSONSCHEMA), "--builtin-schema", "vendor.github-workflows", *map(str, files)]
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


def test_workflows_match_the_github_workflow_schema() -> None:
    run = check_schema(*(WORKFLOWS / f"{name}.yml" for name in NAMES))
    assert run.returncode == 0, run.stdout + run.stderr


def test_schema_check_rejects_a_broken_workflow(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yml"
    broken.write_text("on: push\npermissions: write-some\njobs:\n  x:\n    steps:\n      - run: true\n")
    run = check_schema(broken)
    assert run.returncode == 1 and "runs-on" in run.stdout + run.stderr


@pytest.mark.parametrize("name", NAMES)
def test_every_action_is_pinned_to_a_full_commit_with_its_tag(name: str) -> None:
    lines = [line for line in (WORKFLOWS / f"{name}.yml").read_text().splitlines() if "uses:" in line]
    for line in lines:
        match = re.fullmatch(r"\s*(?:- )?uses: ([\w.-]+/[\w.-]+)@([0-9a-f]{40}) # (v\d+\.\d+\.\d+)", line)
        assert match, f"not pinned to a commit with its tag: {line.strip()}"
        action, commit, tag = match.groups()
        assert PINS.get(action) == (commit, tag), f"{action}@{commit} # {tag} is not the verified pin"


def test_pulumi_actions_is_v7() -> None:
    assert PINS["pulumi/actions"][1].startswith("v7."), "v7 runs on node24 and passes refresh as --refresh"


# ------------------------------------------------------------------------- permissions, credentials


@pytest.mark.parametrize("name", NAMES)
def test_nothing_is_granted_by_default_and_each_job_lists_what_it_needs(name: str) -> None:
    workflow = load(name)
    assert workflow["permissions"] == {}
    for job_id, job in workflow["jobs"].items():
        permissions = job["permissions"]
        assert isinstance(permissions, dict), f"{name}/{job_id}: permissions scope by scope"
        assert {scope for scope, level in permissions.items() if level == "write"} == WRITES[(name, job_id)]
        assert set(permissions.values()) <= {"read", "write"}


@pytest.mark.parametrize("name", NAMES)
def test_no_repository_secret_and_no_long_lived_pulumi_token(name: str) -> None:
    text = (WORKFLOWS / f"{name}.yml").read_text()
    assert "secrets." not in text and "secrets[" not in text, "every credential comes from OIDC and ESC"
    assert "PULUMI_ACCESS_TOKEN" not in text and "config-map" not in text


def test_no_pull_request_target() -> None:
    assert all("pull_request_target" not in triggers(name) for name in NAMES)


def test_pr_jobs_read_no_write_credential() -> None:
    """A job of a PR-triggered workflow runs PR code: no secret, no write scope but OIDC, and OIDC only
    behind an environment with required reviewers that opens a read-only ESC environment."""
    declared = environments()
    write_envs = [e["esc_environment"] for e in declared.values() if e["writes"]]
    pr_jobs = [(n, j, job) for n, j, job in jobs() if triggers(n) & PR_TRIGGERS]
    assert {(n, j) for n, j, _ in pr_jobs} == {
        ("preview", "deployer"),
        ("preview", "preview"),
        ("plan-diff", "plan-diff"),
    }
    for name, job_id, job in pr_jobs:
        text = yaml.safe_dump(job)
        where = f"{name}/{job_id}"
        assert "secrets" not in text, where
        assert not any(re.search(re.escape(env) + r"(?![\w-])", text) for env in write_envs), where
        writes = {scope for scope, level in job["permissions"].items() if level == "write"}
        assert writes <= {"id-token"}, where
        env = environment_name(job)
        if "id-token" in writes:
            assert env is not None, f"{where}: OIDC outside an environment"
        if env is not None:
            spec = declared[env]
            assert spec["required_reviewers"], f"{where}: environment {env} has no required reviewers"
            assert spec["prevent_self_review"] is True, f"{where}: a PR's author could approve their own run"
            assert spec["writes"] is False, f"{where}: environment {env} opens write credentials"
            assert only(job, "pulumi/auth-actions")["with"]["scope"] == f"team:{spec['pulumi_team']}"
            swap = [s for s in steps(job) if "tools.stack_environment" in s.get("run", "")]
            assert swap and f"--use {spec['esc_environment']}" in swap[0]["run"], where


def test_the_comment_job_runs_no_pr_code() -> None:
    (job,) = load("plan-diff-comment")["jobs"].values()
    assert load("plan-diff-comment")["on"] == {"workflow_run": {"workflows": ["plan-diff"], "types": ["completed"]}}
    assert "event == 'pull_request'" in job["if"] and "conclusion == 'success'" in job["if"]
    assert all("uses" not in s for s in steps(job)), "no checkout, no action: nothing from the PR runs"
    scripts = "\n".join(s["run"] for s in steps(job))
    assert not re.search(
        r"\b(make|python\S*|venv/|bash \S+\.sh|source|\. \S)\b", scripts.replace("gh run download", "")
    )
    assert "gh run download" in scripts and "--name plan-diff" in scripts
    assert "headRefOid" in scripts and '"$HEAD_SHA"' in scripts, "the PR number is checked against the run"


def test_every_oidc_job_runs_in_its_declared_environment_on_the_deployer() -> None:
    declared = environments()
    oidc = [(n, j, job) for n, j, job in jobs() if job["permissions"].get("id-token") == "write"]
    assert {(n, j) for n, j, _ in oidc} == {("preview", "preview"), ("up", "up"), ("drift", "drift")}
    for name, job_id, job in oidc:
        env = environment_name(job)
        assert env in declared, f"{name}/{job_id}"
        auth = only(job, "pulumi/auth-actions")["with"]
        assert auth["organization"] == "honeydue" and auth["scope"] == f"team:{declared[env]['pulumi_team']}"
        assert auth["requested-token-type"] == "urn:pulumi:token-type:access_token:team"
        assert int(auth["token-expiration"]) <= job["timeout-minutes"] * 60, "the token outlives no job"
    (writer,) = [e for e, spec in declared.items() if spec["writes"]]
    assert [(n, j) for n, j, job in oidc if environment_name(job) == writer] == [("up", "up")]
    assert declared[writer]["required_reviewers"] and declared[writer]["deployment_branches"] == ["main"]


# --------------------------------------------------------------------------------------- deployer


def gate_script(name: str) -> str:
    (step,) = [s for s in steps(load(name)["jobs"]["deployer"]) if "PULUMI_RUNNER" in s.get("env", {})]
    assert step["env"]["PULUMI_RUNNER"] == "${{ vars.PULUMI_RUNNER }}"
    return str(step["run"])


@pytest.mark.parametrize(
    ("runner", "ok", "reason"),
    [
        ("", False, "PULUMI_RUNNER is not set"),
        ("ubuntu-24.04", False, "generic runner label"),
        ("self-hosted", False, "generic runner label"),
        ("honeydue-deployer", True, "deployer runner: honeydue-deployer"),
    ],
)
def test_the_deployer_gate_fails_at_once_with_the_reason(runner: str, ok: bool, reason: str) -> None:
    run = subprocess.run(
        ["bash", "-e", "-c", gate_script("up")],
        env={"PULUMI_RUNNER": runner, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert (run.returncode == 0) is ok and reason in run.stdout


@pytest.mark.parametrize("name", ["preview", "up", "drift"])
def test_cloud_jobs_wait_for_the_gate_and_check_their_egress_before_logging_in(name: str) -> None:
    assert gate_script(name) == gate_script("up")
    workflow = load(name)
    assert workflow["jobs"]["deployer"]["runs-on"] == "ubuntu-24.04" and "steps" in workflow["jobs"]["deployer"]
    (job,) = [job for job in workflow["jobs"].values() if job["permissions"].get("id-token")]
    assert job["needs"] == "deployer" and job["runs-on"] == DEPLOYER_RUNS_ON, "no fallback to a hosted runner"
    order = [s.get("uses", s.get("run", "")) for s in steps(job)]
    check = next(i for i, s in enumerate(order) if "tools.deployer_check --egress" in s)
    login = next(i for i, s in enumerate(order) if s.startswith("pulumi/auth-actions@"))
    assert check < login


# ------------------------------------------------------------------------------- what each runs


@pytest.mark.parametrize("name", NAMES)
def test_every_run_script_is_shellcheck_clean(name: str) -> None:
    for _, job_id, job in [j for j in jobs() if j[0] == name]:
        for step in steps(job):
            if "run" in step:
                script = re.sub(r"\$\{\{.*?\}\}", "expr", step["run"])
                run = subprocess.run(
                    ["shellcheck", "-s", "bash", "-"], input=script, capture_output=True, text=True, timeout=60
                )
                assert run.returncode == 0, f"{name}/{job_id}: {step.get('name')}\n{run.stdout}"


@pytest.mark.parametrize("name", ["preview", "up", "drift"])
def test_python_311_venvs_policy_pack_and_the_cli_of_the_sdk(name: str) -> None:
    (job,) = [job for job in load(name)["jobs"].values() if job["permissions"].get("id-token")]
    assert only(job, "actions/setup-python")["with"]["python-version"] == "3.11"
    assert only(job, "actions/checkout")["with"]["persist-credentials"] is False
    scripts = "\n".join(s.get("run", "") for s in steps(job))
    assert "python -m venv venv" in scripts and "-r requirements.txt" in scripts
    assert "python -m venv policy/venv" in scripts and "-r policy/requirements.txt" in scripts
    pins = dict(
        line.split("==") for line in (PROJECT_DIR / "requirements.txt").read_text().splitlines() if "==" in line
    )
    step = only(job, "pulumi/actions")["with"]
    assert step["stack-name"] == "prod" and step["policyPacks"] == "policy"
    assert step["pulumi-version"] == pins["pulumi"], "the CLI is released with the SDK of the same version"
    assert "comment-on-pr" not in step, "no job with cloud credentials may write to the PR"


def test_up_runs_main_only_behind_production_without_overlap() -> None:
    workflow = load("up")
    assert workflow["on"] == {"push": {"branches": ["main"]}, "workflow_dispatch": None}
    job = workflow["jobs"]["up"]
    assert environment_name(job) == "production" and job["if"] == "github.ref == 'refs/heads/main'"
    assert workflow["concurrency"]["group"] and workflow["concurrency"]["cancel-in-progress"] is False
    assert only(job, "pulumi/actions")["with"]["command"] == "up"
    assert not [s for s in steps(job) if "tools.stack_environment" in s.get("run", "")], "up opens honeydue/prod"


def test_drift_previews_daily_with_refresh_and_reports_from_a_job_without_credentials() -> None:
    workflow = load("drift")
    assert "workflow_dispatch" in workflow["on"]
    (schedule,) = workflow["on"]["schedule"]
    minute, hour, day, month, weekday = schedule["cron"].split()
    assert minute.isdigit() and hour.isdigit() and (day, month, weekday) == ("*", "*", "*"), "once a day"
    drift = workflow["jobs"]["drift"]
    step = only(drift, "pulumi/actions")
    assert step["with"]["command"] == "preview", "a preview writes no state"
    assert step["with"]["refresh"] is True and step["with"]["expect-no-changes"] is True
    verdict = next(s for s in steps(drift) if s.get("id") == "verdict")
    assert verdict["if"] == f"failure() && steps.{step['id']}.outcome == 'failure'"
    assert drift["outputs"]["drifted"] == "${{ steps.verdict.outputs.drifted }}"
    report = workflow["jobs"]["report"]
    assert report["needs"] == "drift" and "needs.drift.outputs.drifted == 'true'" in report["if"]
    assert "gh issue create" in report["steps"][0]["run"] and "id-token" not in report["permissions"]


def test_plan_diff_runs_for_every_pr_without_credentials_and_hands_over_its_review() -> None:
    workflow = load("plan-diff")
    assert workflow["on"] == {"pull_request": {"branches": ["main"]}}
    (job,) = workflow["jobs"].values()
    assert "if" not in job and "environment" not in job, "forks too"
    assert only(job, "actions/checkout")["with"] == {"fetch-depth": 0, "persist-credentials": False}
    scripts = "\n".join(s.get("run", "") for s in steps(job))
    assert 'make plan-diff PYTHON=python BASE="$BASE_SHA"' in scripts
    assert any(s.get("env", {}).get("BASE_SHA") == "${{ github.event.pull_request.base.sha }}" for s in steps(job))
    upload = only(job, "actions/upload-artifact")["with"]
    assert upload["name"] == "plan-diff" and "pr-number" in scripts and "review.md" in scripts
