"""The GitHub workflows: valid against GitHub's workflow schema, every action pinned, and what each
workflow runs (issues 7 and 13). Credentials and permissions: tests/test_workflow_credentials.py.

The schema check runs `check-jsonschema --builtin-schema vendor.github-workflows` from this venv; the
schema is vendored in the package, so it needs no network (verified with the network unshared).
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.workflow_files import NAMES, PROJECT_DIR, WORKFLOWS, environment_name, jobs, load, only, steps

CHECK_JSONSCHEMA = PROJECT_DIR / "venv" / "bin" / "check-jsonschema"
# Every action, at the commit of its release tag: read with the `fetch` tool from each action's
# repository (`git rev-parse <tag>^{commit}`), each a node24 action.
PINS = {
    "actions/checkout": ("3d3c42e5aac5ba805825da76410c181273ba90b1", "v7.0.1"),
    "actions/setup-python": ("5fda3b95a4ea91299a34e894583c3862153e4b97", "v7.0.0"),
    "actions/upload-artifact": ("bbbca2ddaa5d8feaa63e36b76fdaad77386f024f", "v7.0.0"),
    "pulumi/actions": ("8e5e406f4007fca908480587cb9893c07090f58d", "v7.0.0"),
    "pulumi/auth-actions": ("141415910c3beb54e03b48e9057c204c97b956f2", "v2.1.0"),
}

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
    # requirements.txt is the hashed lock: `name==version \` lines, each followed by its --hash lines.
    pins = dict(re.findall(r"^([\w.-]+)==([^\s\\;]+)", (PROJECT_DIR / "requirements.txt").read_text(), re.M))
    step = only(job, "pulumi/actions")["with"]
    assert step["pulumi-version"] == pins["pulumi"], "the CLI is released with the SDK of the same version"
    assert "comment-on-pr" not in step, "no job with cloud credentials may write to the PR"
    if name == "drift":  # the action only installs the CLI; the job runs the preview itself (--json)
        assert set(step) == {"pulumi-version"} and "--stack prod" in scripts and "--policy-pack policy" in scripts
    else:
        assert step["stack-name"] == "prod" and step["policyPacks"] == "policy"


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
    verdict = next(s for s in steps(drift) if s.get("id") == "verdict")
    # A preview writes no state; --refresh refreshes in memory only; --json gives the digest the verdict reads.
    assert "pulumi preview --stack prod --refresh --json --policy-pack policy" in verdict["run"]
    assert "tools.drift_verdict" in verdict["run"] and "set +e" in verdict["run"]
    assert drift["outputs"] == {
        "verdict": "${{ steps.verdict.outputs.verdict }}",
        "report": "${{ steps.verdict.outputs.report }}",
    }
    report = workflow["jobs"]["report"]
    # Drift, a failed preview, a failed gate (the drift job is then skipped) and a failed or timed-out job each
    # file an issue; a clean or skipped check files none.
    assert report["needs"] == ["deployer", "drift"] and "needs.drift.outputs.verdict == 'failed'" in report["if"]
    assert "needs.deployer.result == 'failure'" in report["if"] and '["failure", "cancelled"]' in report["if"]
    assert "needs.drift.outputs.verdict == 'drift'" in report["if"] and "skipped" not in report["if"]
    assert "verdict=skipped" in verdict["run"], "an up that started during the check voids its verdict"
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


def test_zizmor_in_make_lint_has_teeth(tmp_path: Path) -> None:
    # Issue 22 item 8: `make lint` runs zizmor on .github/workflows; a workflow of the kind it exists to catch
    # (pull_request_target checking out the PR's head) fails it.
    bad = tmp_path / "bad.yml"
    bad.write_text(
        "name: bad\non:\n  pull_request_target:\npermissions: {}\njobs:\n  x:\n    name: x\n"
        "    runs-on: ubuntu-24.04\n    permissions: {}\n    steps:\n"
        "      - uses: actions/checkout@3d3c42e5aac5ba805825da76410c181273ba90b1 # v7.0.1\n"
        "        with:\n          ref: ${{ github.event.pull_request.head.sha }}\n"
    )
    zizmor = Path(sys.executable).parent / "zizmor"
    run = subprocess.run([str(zizmor), "--offline", "--persona=auditor", str(bad)], capture_output=True, text=True)
    assert run.returncode != 0 and "dangerous-triggers" in run.stdout + run.stderr
    makefile = (PROJECT_DIR / "Makefile").read_text()
    assert "zizmor --offline --persona=auditor --quiet .github/workflows" in makefile


# ----------------------------------------------------------------------------- status.yml (issue 23 item 4)
# The report's behaviour (which issue it opens, comments on or closes) runs in tests/test_status_workflow.py.

STATUS = WORKFLOWS / "status.yml"


def test_status_workflow_matches_the_schema_and_pins_every_action() -> None:
    run = check_schema(STATUS)
    assert run.returncode == 0, run.stdout + run.stderr
    lines = [line for line in STATUS.read_text().splitlines() if "uses:" in line]
    assert len(lines) == 4
    for line in lines:
        match = re.fullmatch(r"\s*(?:- )?uses: ([\w.-]+/[\w.-]+)@([0-9a-f]{40}) # (v\d+\.\d+\.\d+)", line)
        assert match and PINS.get(match.group(1)) == match.group(2, 3), line.strip()


def test_status_runs_hourly_off_the_hour_and_on_demand() -> None:
    workflow = load("status")
    assert set(workflow["on"]) == {"schedule", "workflow_dispatch"}
    (schedule,) = workflow["on"]["schedule"]
    minute, *hourly = schedule["cron"].split()
    assert minute.isdigit() and 0 < int(minute) < 60 and hourly == ["*", "*", "*", "*"], schedule["cron"]
    assert workflow["concurrency"]["cancel-in-progress"] is False, "never cut a report off halfway"


def test_status_runs_on_the_preview_runner_read_only_like_the_drift_check() -> None:
    workflow = load("status")
    job = workflow["jobs"]["status"]
    assert job["runs-on"] == ["self-hosted", "${{ vars.PULUMI_PREVIEW_RUNNER }}"] and job["needs"] == "deployer"

    def gate(name: str) -> dict[str, object]:
        return next(s for s in steps(load(name)["jobs"]["deployer"]) if "RUNNER_LABEL" in s.get("env", {}))

    assert gate("status") == gate("drift"), "the same runner gate: the preview runner, never the up runner"
    assert workflow["jobs"]["deployer"]["if"] == "github.ref == 'refs/heads/main'"
    assert environment_name(job) == "drift"
    auth = only(job, "pulumi/auth-actions")["with"]
    assert auth["scope"] == "team:ci-readonly" and int(auth["token-expiration"]) <= job["timeout-minutes"] * 60
    order = [s.get("uses", s.get("run", "")) for s in steps(job)]
    egress = next(i for i, s in enumerate(order) if "tools.deployer_check --egress" in s)
    swap = next(
        i for i, s in enumerate(order) if "tools.stack_environment --stack prod --use honeydue/prod-readonly" in s
    )
    login = next(i for i, s in enumerate(order) if s.startswith("pulumi/auth-actions@"))
    (status,) = [s for s in steps(job) if s.get("id") == "status"]
    assert egress < login and swap < login < order.index(status["run"])
    # The list-only B2 key reaches `make status` alone, from the read-only ESC environment.
    assert "pulumi env run honeydue/honeydue/prod-readonly -- \\\n  make status" in status["run"]
    assert steps(job)[0]["run"] == 'echo "PULUMI_HOME=$RUNNER_TEMP/pulumi-home" >> "$GITHUB_ENV"'
    assert [(s["if"], s["run"]) for s in steps(job)[-2:]] == [
        ("always()", "rm -f build/kubeconfig-prod.yaml"),
        ("always()", 'rm -rf "$RUNNER_TEMP/pulumi-home"'),
    ]


def test_status_jobs_hold_only_what_they_need_and_no_secret_reaches_a_run_line() -> None:
    workflow = load("status")
    assert workflow["permissions"] == {}
    assert {job_id: job["permissions"] for job_id, job in workflow["jobs"].items()} == {
        "deployer": {},
        "status": {"contents": "read", "id-token": "write"},
        "report": {"issues": "write"},
    }
    report = workflow["jobs"]["report"]
    assert report["runs-on"] == "ubuntu-24.04" and all("uses" not in s for s in steps(report)), "no code of the repo"
    text = STATUS.read_text()
    assert "secrets." not in text and "secrets[" not in text and "PULUMI_ACCESS_TOKEN" not in text
    for job_id, job in workflow["jobs"].items():
        for step in steps(job):
            assert "${{" not in step.get("run", ""), f"{job_id}: an expression in a script, not through env"
            assert not any(name.startswith("STATUS_B2") for name in step.get("env", {})), "the key comes from ESC"


def test_status_scripts_are_shellcheck_clean() -> None:
    for job_id, job in load("status")["jobs"].items():
        for step in steps(job):
            if "run" in step:
                run = subprocess.run(
                    ["shellcheck", "-s", "bash", "-"], input=step["run"], capture_output=True, text=True, timeout=60
                )
                assert run.returncode == 0, f"status/{job_id}: {step.get('name')}\n{run.stdout}"


def test_status_in_make_lint() -> None:
    run = subprocess.run(
        [str(Path(sys.executable).parent / "zizmor"), "--offline", "--persona=auditor", str(STATUS)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
