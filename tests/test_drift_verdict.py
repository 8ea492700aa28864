"""tools/drift_verdict.py: drift is drift, a failed check is a failed check (issue 22 item 5)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tools.drift_verdict import main, verdict

URN = "urn:pulumi:prod::honeydue::honeydue:nodes:Nodes$hcloud:index/server:Server::honeydue-2"


def _digest(*ops: str, summary: dict[str, int] | None = None, errors: tuple[str, ...] = ()) -> str:
    """The shape of `pulumi preview --json` (pulumi/pulumi pkg/display/json.go PreviewDigest)."""
    return json.dumps({
        "steps": [{"op": op, "urn": f"{URN}-{i}"} for i, op in enumerate(ops)],
        "changeSummary": summary if summary is not None else {"same": len(ops)},
        "diagnostics": [
            *({"severity": "error", "message": e} for e in errors), {"severity": "warning", "message": "w"}
        ],
    })  # fmt: skip


def test_a_clean_preview_is_no_drift() -> None:
    assert verdict(0, _digest("same", "same", "read"), "")[0] == "clean"


def test_changes_are_drift_naming_each_resource_and_operation() -> None:
    result, text = verdict(0, _digest("same", "update", "replace", summary={"same": 1, "update": 1, "replace": 1}), "")
    assert result == "drift" and "1 replace, 1 update" in text
    assert f"- `update` {URN}-1" in text and f"- `replace` {URN}-2" in text


def test_a_failed_preview_is_a_failed_check_with_its_errors_not_drift() -> None:
    result, text = verdict(255, _digest(errors=("opening environment: access denied",)), "")
    assert result == "failed" and "not drift" in text and "access denied" in text
    # No digest at all (the CLI died before printing it): the end of stderr says why.
    result, text = verdict(1, "", "error: dial tcp 203.0.113.10:22: i/o timeout\n")
    assert result == "failed" and "i/o timeout" in text


def test_the_command_line_prints_the_verdict_for_github_output(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "p.json").write_text(_digest("update", summary={"update": 1}))
    args = ["--exit-code", "0", "--digest", str(tmp_path / "p.json"), "--stderr", str(tmp_path / "none")]
    assert main([*args, "--report", str(tmp_path / "r.md")]) == 0
    assert capsys.readouterr().out == "verdict=drift\n" and "Drift" in (tmp_path / "r.md").read_text()


def test_the_refresh_steps_of_a_preview_with_refresh_are_no_drift() -> None:
    # Review: `preview --refresh --json` lists a `refresh` step for every resource it re-read.
    assert verdict(0, _digest("refresh", "refresh", "same"), "")[0] == "clean"


def test_a_successful_exit_without_a_digest_is_a_failed_check() -> None:
    assert verdict(0, "", "")[0] == "failed" and verdict(0, "warning: something\n{", "")[0] == "failed"
