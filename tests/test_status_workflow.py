"""What .github/workflows/status.yml does with `make status`'s result, run for real in bash: the status step
turns make's exit code and tools/status.py's --verdict outputs into the job's outputs, and the report job,
against a fake `gh` that keeps issues in a JSON file, opens one issue per kind of trouble, comments only
when what is wrong changes, never opens a duplicate, and closes what is OK again."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.test_make_targets import dry_run, fake_pulumi
from tests.validators import require_tool
from tests.workflow_files import load, steps

STALE = "Status: stale backups or expiring credentials in stack prod"
FAILED = "Status check failed for stack prod"

# gh as the report uses it: issue list/create/view/comment/close, --jq through the real jq (gh's gojq reads
# the same expressions), the issues in $GH_STATE.
FAKE_GH = """#!{python}
import json, os, subprocess, sys
path = os.environ["GH_STATE"]
issues = json.load(open(path))
args = sys.argv[1:]
def option(name):
    return args[args.index(name) + 1] if name in args else None
def jq(data):
    run = subprocess.run(["jq", "-r", option("--jq")], input=json.dumps(data), capture_output=True, text=True,
                         check=True)
    print(run.stdout, end="")
assert args[0] == "issue" and option("--repo") == "o/r", args
verb = args[1]
if verb == "list":
    assert option("--state") == "open" and option("--json") == "number,title"
    jq([{{"number": i["number"], "title": i["title"]}} for i in issues if i["state"] == "open"])
elif verb == "create":
    issues.append({{"number": len(issues) + 1, "title": option("--title"), "body": option("--body"),
                   "comments": [], "state": "open"}})
else:
    issue = issues[int(args[2]) - 1]
    if verb == "view":
        jq({{"body": issue["body"], "comments": [{{"body": c}} for c in issue["comments"]]}})
    elif verb == "comment":
        issue["comments"].append(option("--body"))
    elif verb == "close":
        issue["comments"].append(option("--comment"))
        issue["state"] = "closed"
    else:
        sys.exit("unexpected gh " + " ".join(args))
json.dump(issues, open(path, "w"))
"""


@pytest.fixture
def gh(tmp_path: Path) -> Path:
    require_tool("jq")
    fake = tmp_path / "bin" / "gh"
    fake.parent.mkdir()
    fake.write_text(FAKE_GH.format(python=sys.executable))
    fake.chmod(0o755)
    (tmp_path / "issues.json").write_text("[]")
    return tmp_path


def report(home: Path, **outputs: str) -> list[dict[str, Any]]:
    """Runs the report step with the status job's outputs; returns the issues afterwards."""
    (step,) = steps(load("status")["jobs"]["report"])
    env = {
        "PATH": f"{home / 'bin'}:/usr/bin:/bin",
        "GH_STATE": str(home / "issues.json"),
        "GITHUB_REPOSITORY": "o/r",
        "GITHUB_STEP_SUMMARY": str(home / "summary.md"),
        "RUN_URL": "https://github.com/o/r/actions/runs/1",
        "STATUS_RESULT": "success",
    }
    env |= {key.upper(): value for key, value in outputs.items()}
    run = subprocess.run(["bash", "-e", "-c", step["run"]], env=env, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stdout + run.stderr
    issues: list[dict[str, Any]] = json.loads((home / "issues.json").read_text())
    return issues


def summary(issues: list[dict[str, Any]]) -> list[tuple[str, str, int]]:
    return [(i["title"], i["state"], len(i["comments"])) for i in issues]


def test_the_report_opens_one_issue_comments_on_changes_and_closes_when_ok(gh: Path) -> None:
    stale = {"verdict": "stale", "exit_code": "1", "report": "### stale\nFAIL  newest Redis snapshot (B2): 5.0 h old"}
    issues = report(gh, **stale, fingerprint="aaaa")
    assert summary(issues) == [(STALE, "open", 0)]
    assert "5.0 h old" in issues[0]["body"] and "<!-- status-fingerprint: aaaa -->" in issues[0]["body"]
    # An hour later, the same things wrong: nothing new to say.
    assert summary(report(gh, **stale, fingerprint="aaaa")) == [(STALE, "open", 0)]
    # Something else is wrong now: one comment, on the same issue.
    issues = report(gh, **stale, fingerprint="bbbb")
    assert summary(issues) == [(STALE, "open", 1)] and "bbbb" in issues[0]["comments"][0]
    assert summary(report(gh, **stale, fingerprint="bbbb")) == [(STALE, "open", 1)]

    # The check cannot run (tools/status.py exit 2): its own issue; the stale one is left as it is.
    failed = {"verdict": "failed", "exit_code": "2", "report": "### could not run its checks\nUnable to connect"}
    issues = report(gh, **failed, fingerprint="cccc")
    assert summary(issues) == [(STALE, "open", 1), (FAILED, "open", 0)]
    assert "Unable to connect" in issues[1]["body"]
    # The job itself failed (runner gate, login): no outputs at all, still a failed check, said as such.
    issues = report(gh, status_result="failure")
    assert summary(issues) == [(STALE, "open", 1), (FAILED, "open", 1)]
    assert "did not run its checks (status job: failure" in issues[1]["comments"][0]

    # The check runs again: the failed-check issue closes; the stale one, unchanged, gets no comment.
    assert summary(report(gh, **stale, fingerprint="bbbb")) == [(STALE, "open", 1), (FAILED, "closed", 2)]
    # All OK: closed, with the report; the next trouble opens a new issue.
    issues = report(gh, verdict="ok", exit_code="0", report="### nothing stale", fingerprint="dddd")
    assert summary(issues) == [(STALE, "closed", 2), (FAILED, "closed", 2)]
    assert issues[0]["comments"][-1].startswith("OK again:") and "nothing stale" in issues[0]["comments"][-1]
    assert summary(report(gh, **stale, fingerprint="aaaa"))[2:] == [(STALE, "open", 0)]


def test_an_issue_with_a_longer_title_is_not_taken_for_the_status_issue(gh: Path) -> None:
    issues = [{"number": 1, "title": f"{STALE} (old)", "body": "", "comments": [], "state": "open"}]
    (gh / "issues.json").write_text(json.dumps(issues))
    issues = report(gh, verdict="stale", exit_code="1", report="r", fingerprint="aaaa")
    assert summary(issues) == [(f"{STALE} (old)", "open", 0), (STALE, "open", 0)]


FAKE_PULUMI = """#!/bin/sh
# pulumi env run <env> -- make status ... STATUS_ARGS=--verdict <file>: write what tools/status.py would.
[ "$1 $2 $3 $4 $5 $6" = "env run honeydue/honeydue/prod-readonly -- make status" ] || exit 99
file=${{9#STATUS_ARGS=--verdict }}
{write}
exit 2
"""


@pytest.mark.parametrize(
    ("write", "expected"),
    [
        # tools/status.py ran: its verdict, whatever make's own exit code (2 for FAIL lines too).
        (
            'printf "verdict=stale\\nexit_code=1\\nfingerprint=f\\n" > "$file"',
            "verdict=stale\nexit_code=1\nfingerprint=f\n",
        ),
        (
            'printf "verdict=failed\\nexit_code=2\\nfingerprint=g\\n" > "$file"',
            "verdict=failed\nexit_code=2\nfingerprint=g\n",
        ),
        # make stopped before it (the CLI, the state export): a check that could not run.
        (":", "verdict=failed\nexit_code=2\nfingerprint=make-exit-2\n"),
    ],
)
def test_the_status_step_takes_the_verdict_from_tools_status_not_makes_exit_code(
    tmp_path: Path, write: str, expected: str
) -> None:
    (step,) = [s for s in steps(load("status")["jobs"]["status"]) if s.get("id") == "status"]
    fake = tmp_path / "bin" / "pulumi"
    fake.parent.mkdir()
    fake.write_text(FAKE_PULUMI.format(write=write))
    fake.chmod(0o755)
    output = tmp_path / "output"
    env = {"PATH": f"{fake.parent}:/usr/bin:/bin", "RUNNER_TEMP": str(tmp_path), "GITHUB_OUTPUT": str(output)}
    run = subprocess.run(["bash", "-e", "-c", step["run"]], env=env, capture_output=True, text=True, timeout=30)
    assert run.returncode == 0, run.stderr
    assert output.read_text() == expected


def test_make_status_hands_status_args_to_the_tool(tmp_path: Path) -> None:
    run = dry_run("status", "STACK=prod", "STATUS_ARGS=--verdict /tmp/x", path=fake_pulumi(tmp_path, logged_in=True))
    assert run.returncode == 0, run.stderr
    assert "venv/bin/python -m tools.status --stack prod --kubeconfig build/kubeconfig-prod.yaml --verdict /tmp/x" in (
        run.stdout.splitlines()
    )
