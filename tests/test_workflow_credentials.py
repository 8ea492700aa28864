"""No job that runs pull-request code can reach a write credential; every job gets only the token
scopes it needs; cloud jobs run on the checked deployer and nowhere else (issue 13).

`.github/environments.yml` declares the GitHub environments (their reviewers live in the repository
settings); these tests hold every job to that declaration.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.workflow_files import (
    NAMES,
    WORKFLOWS,
    environment_name,
    environments,
    jobs,
    load,
    only,
    steps,
    triggers,
    uses,
)

PR_TRIGGERS = {"pull_request", "pull_request_target"}
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
    ("status", "deployer"): set(),
    ("status", "status"): {"id-token"},
    ("status", "report"): {"issues"},
}
# Issue 22 item 1: `up` on its own runner (a group only up.yml on main may use); previews and drift, which run
# pull-request code or read-only work, on another, ephemeral one. Both egress from deployerCidrs.
RUNNER_VARIABLE = {
    "up": "PULUMI_RUNNER",
    "preview": "PULUMI_PREVIEW_RUNNER",
    "drift": "PULUMI_PREVIEW_RUNNER",
    "status": "PULUMI_PREVIEW_RUNNER",
}


def runs_on(name: str) -> list[str]:
    return ["self-hosted", f"${{{{ vars.{RUNNER_VARIABLE[name]} }}}}"]


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
    assert "event == 'pull_request'" in job["if"] and '["success", "failure"]' in job["if"]
    # The review is downloaded only from a successful run; a failed one marks the comment stale.
    (download,) = [s for s in steps(job) if "gh run download" in s.get("run", "")]
    assert download["if"] == "github.event.workflow_run.conclusion == 'success'"
    assert all("uses" not in s for s in steps(job)), "no checkout, no action: nothing from the PR runs"
    scripts = "\n".join(s["run"] for s in steps(job))
    assert not re.search(
        r"\b(make|python\S*|venv/|bash \S+\.sh|source|\. \S)\b", scripts.replace("gh run download", "")
    )
    assert "gh run download" in scripts and "--name plan-diff" in scripts
    assert "headRefOid" in scripts and '"$HEAD_SHA"' in scripts, "the PR number is checked against the run"
    # Issue 22 item 6: the comment names the commit, says whose code produced it, is cut at a line, and a
    # failed newer run marks it stale.
    assert "Produced by this pull request" in scripts and "awk -v limit=" in scripts and "head -c" not in scripts
    assert "**Stale**" in scripts


def test_every_oidc_job_runs_in_its_declared_environment_on_the_deployer() -> None:
    declared = environments()
    oidc = [(n, j, job) for n, j, job in jobs() if job["permissions"].get("id-token") == "write"]
    assert {(n, j) for n, j, _ in oidc} == {
        ("preview", "preview"),
        ("up", "up"),
        ("drift", "drift"),
        ("status", "status"),
    }
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


def gate_step(name: str) -> dict[str, Any]:
    (step,) = [s for s in steps(load(name)["jobs"]["deployer"]) if "RUNNER_LABEL" in s.get("env", {})]
    variable = RUNNER_VARIABLE[name]
    assert step["env"] == {
        "VARIABLE": variable,
        "RUNNER_LABEL": f"${{{{ vars.{variable} }}}}",
        "UP_RUNNER": "${{ vars.PULUMI_RUNNER }}",
    }
    return step


def gate_script(name: str) -> str:
    return str(gate_step(name)["run"])


@pytest.mark.parametrize(
    ("variable", "runner", "ok", "reason"),
    [
        ("PULUMI_RUNNER", "", False, "PULUMI_RUNNER is not set"),
        ("PULUMI_RUNNER", "ubuntu-24.04", False, "generic runner label"),
        ("PULUMI_RUNNER", "self-hosted", False, "generic runner label"),
        ("PULUMI_RUNNER", "honeydue-deployer", True, "runner: honeydue-deployer"),
        ("PULUMI_PREVIEW_RUNNER", "", False, "PULUMI_PREVIEW_RUNNER is not set"),
        ("PULUMI_PREVIEW_RUNNER", "honeydue-deployer", False, "is the up runner's label"),
        ("PULUMI_PREVIEW_RUNNER", "Honeydue-Deployer", False, "is the up runner's label"),  # labels ignore case
        ("PULUMI_RUNNER", "Linux", False, "generic runner label"),
        ("PULUMI_PREVIEW_RUNNER", "honeydue-preview", True, "runner: honeydue-preview"),
    ],
)
def test_the_runner_gate_fails_at_once_with_the_reason(variable: str, runner: str, ok: bool, reason: str) -> None:
    env = {"VARIABLE": variable, "RUNNER_LABEL": runner, "UP_RUNNER": "honeydue-deployer", "PATH": "/usr/bin:/bin"}
    run = subprocess.run(["bash", "-e", "-c", gate_script("up")], env=env, capture_output=True, text=True, timeout=30)
    assert (run.returncode == 0) is ok and reason in run.stdout


@pytest.mark.parametrize("name", ["preview", "up", "drift", "status"])
def test_every_cloud_job_keeps_its_pulumi_home_to_itself(name: str) -> None:
    # Issue 22 item 1: the CLI stores its access token and plugins under PULUMI_HOME (~/.pulumi by default,
    # pulumi/pulumi pkg/backend/httpstate credentials): a job's own, under RUNNER_TEMP, set before anything
    # runs the CLI and removed whatever happened.
    (job,) = [job for job in load(name)["jobs"].values() if job["permissions"].get("id-token")]
    first, last = steps(job)[0], steps(job)[-1]
    assert first["run"] == 'echo "PULUMI_HOME=$RUNNER_TEMP/pulumi-home" >> "$GITHUB_ENV"'
    assert last["if"] == "always()" and last["run"] == 'rm -rf "$RUNNER_TEMP/pulumi-home"'


def test_pull_request_code_never_runs_on_the_up_runner() -> None:
    pr_jobs = [(n, job) for n, _, job in jobs() if triggers(n) & PR_TRIGGERS and job.get("runs-on") != "ubuntu-24.04"]
    assert pr_jobs and all("${{ vars.PULUMI_RUNNER }}" not in job["runs-on"] for _, job in pr_jobs)
    assert load("up")["jobs"]["up"]["runs-on"] == runs_on("up")


@pytest.mark.parametrize("name", ["preview", "up", "drift", "status"])
def test_cloud_jobs_wait_for_the_gate_and_check_their_egress_before_logging_in(name: str) -> None:
    assert gate_script(name) == gate_script("up")
    workflow = load(name)
    assert workflow["jobs"]["deployer"]["runs-on"] == "ubuntu-24.04" and "steps" in workflow["jobs"]["deployer"]
    (job,) = [job for job in workflow["jobs"].values() if job["permissions"].get("id-token")]
    assert job["needs"] == "deployer" and job["runs-on"] == runs_on(name), "no fallback to a hosted runner"
    order = [s.get("uses", s.get("run", "")) for s in steps(job)]
    check = next(i for i, s in enumerate(order) if "tools.deployer_check --egress" in s)
    login = next(i for i, s in enumerate(order) if s.startswith("pulumi/auth-actions@"))
    assert check < login


def test_a_dispatch_elsewhere_cannot_cancel_a_deploy_of_main_waiting_its_turn() -> None:
    # Issue 22 item 7: GitHub keeps one pending run per concurrency group and cancels the older one.
    concurrency = load("up")["concurrency"]
    assert concurrency == {"group": "pulumi-prod-up-${{ github.ref }}", "cancel-in-progress": False}
    assert load("up")["jobs"]["up"]["if"] == "github.ref == 'refs/heads/main'"


@pytest.mark.parametrize(("name", "busy", "code", "running"), [
    ("drift", "1", 0, "true"), ("drift", "0", 0, "false"), ("preview", "2", 1, "true"), ("preview", "0", 0, "false"),
])  # fmt: skip
def test_previews_and_drift_never_run_during_an_up(
    name: str, busy: str, code: int, running: str, tmp_path: Path
) -> None:
    # Issue 22 item 7: a preview during an `up` reads a state in flux. A step lists up.yml's runs: drift skips
    # the day (in its gate job: no approval to wait for), a preview fails with the reason (in the preview job,
    # after the environment's approval, which may take hours).
    job = load(name)["jobs"]["deployer" if name == "drift" else "preview"]
    (step,) = [s for s in steps(job) if s.get("id") == "up"]
    assert job["permissions"]["actions"] == "read"
    if name == "drift":
        assert job["outputs"]["up-running"] == "${{ steps.up.outputs.running }}"
    fake = tmp_path / "gh"
    fake.write_text(f"#!/bin/sh\necho {busy}\n")
    fake.chmod(0o755)
    out = tmp_path / "out"
    env = {"PATH": f"{tmp_path}:/usr/bin:/bin", "GITHUB_OUTPUT": str(out), "GITHUB_REPOSITORY": "o/r", "GH_TOKEN": "t"}
    run = subprocess.run(["bash", "-e", "-c", step["run"]], env=env, capture_output=True, text=True, timeout=30)
    assert run.returncode == code and out.read_text() == f"running={running}\n"
    if name == "drift":
        assert load("drift")["jobs"]["drift"]["if"] == "needs.deployer.outputs.up-running != 'true'"


def test_a_preview_of_main_can_be_dispatched() -> None:
    # Issue 22 item 7: the runbook's "preview after a rotation" step, which changes nothing in the repository.
    assert "workflow_dispatch" in triggers("preview")
    for job in load("preview")["jobs"].values():
        assert job["if"].startswith("github.event_name == 'workflow_dispatch' || ")


def test_the_oidc_trust_bounds_every_token_and_checks_audience_and_subject() -> None:
    # Issue 22 item 7: lifetimes are bounded by the issuer (server side), not only by what a workflow asks.
    trust = yaml.safe_load((WORKFLOWS.parent / "pulumi-oidc.yml").read_text())
    assert trust["issuer"] == "https://token.actions.githubusercontent.com"
    declared = environments()
    assert {(p["team"], p["sub"]) for p in trust["policies"]} == {
        (spec["pulumi_team"], f"repo:<owner>/<repo>:environment:{env}") for env, spec in declared.items()
    }
    for name, _, job in jobs():
        for step in uses(job, "pulumi/auth-actions"):
            auth = step["with"]
            assert trust["audience"] == f"urn:pulumi:org:{auth['organization']}", name
            assert int(auth["token-expiration"]) <= trust["max_expiration"], name
    assert max(int(j["timeout-minutes"]) for _, _, j in jobs()) * 60 <= trust["max_expiration"]
    setup = (WORKFLOWS.parent.parent / "docs" / "ci.md").read_text()
    assert f"maxExpiration` {trust['max_expiration']}" in setup and trust["audience"] in setup
