"""The daily drift check's verdict: drift (the engine shows changes) or a failed check, each what it is.

`.github/workflows/drift.yml` runs `pulumi preview --refresh --json` and hands this tool the JSON the CLI
printed, the CLI's exit code and its stderr. The CLI prints a preview digest (pulumi/pulumi pkg/display/json.go
`PreviewDigest`: `steps`, `diagnostics`, `changeSummary`, per step `op`). Then:

- exit 0, every step `same` (or a summary with only `same`): **clean**;
- exit 0 with any other operation: **drift**, listing each changed resource and its operation;
- any other exit (ESC access denied, an SSH dial that timed out, a policy violation, a program error): the
  check **failed**, with the error diagnostics (or the end of stderr): not drift, and not silence either.

It prints `verdict=<clean|drift|failed>` for $GITHUB_OUTPUT and writes the Markdown the report job posts.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

# Operations that change nothing: `same`, reads of resources the program only looks up, and the refresh step a
# `preview --refresh` shows for every resource it re-read (pkg/display: only `pulumi refresh` turns those into
# updates; a refresh that found a difference shows up as a later update, replace or delete step).
UNCHANGED = frozenset({"same", "read", "refresh"})
MAX_LISTED = 50


def verdict(exit_code: int, digest_text: str, stderr: str) -> tuple[str, str]:
    """(verdict, Markdown) of one drift check."""
    try:
        parsed: Any = json.loads(digest_text) if digest_text.strip() else None
    except json.JSONDecodeError:
        parsed = None
    digest: dict[str, Any] = parsed if isinstance(parsed, dict) else {}
    if exit_code == 0 and not digest:
        # A successful preview always prints its digest: without one, nothing was checked.
        tail = "\n".join(stderr.strip().splitlines()[-20:]) or "(no output)"
        return "failed", f"The drift check printed no preview digest; nothing was checked:\n\n```\n{tail}\n```\n"
    if exit_code != 0:
        diagnostics = digest.get("diagnostics") or []
        errors = [str(d.get("message", "")).strip() for d in diagnostics if d.get("severity") == "error"]
        reason = "\n".join(e for e in errors if e) or "\n".join(stderr.strip().splitlines()[-20:]) or "(no output)"
        return "failed", f"The drift check itself failed (exit {exit_code}); this is not drift:\n\n```\n{reason}\n```\n"
    changed = [
        (str(step.get("op")), str(step.get("urn", "")))
        for step in digest.get("steps") or []
        if str(step.get("op")) not in UNCHANGED
    ]
    summary = {op: n for op, n in (digest.get("changeSummary") or {}).items() if op not in UNCHANGED and n}
    if not changed and not summary:
        return "clean", "No drift: the preview of main against the refreshed state shows no change.\n"
    lines = [f"- `{op}` {urn}" for op, urn in changed[:MAX_LISTED]]
    if len(changed) > MAX_LISTED:
        lines.append(f"- … and {len(changed) - MAX_LISTED} more")
    counts = ", ".join(f"{n} {op}" for op, n in sorted(summary.items())) or f"{len(changed)} changed"
    return "drift", f"Drift: the code on main and prod differ ({counts}):\n\n" + "\n".join(lines) + "\n"


def _read(path: Path) -> str:
    return path.read_text(errors="replace") if path.exists() else ""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--exit-code", type=int, required=True, help="the exit code of `pulumi preview`")
    parser.add_argument("--digest", type=Path, required=True, help="what `pulumi preview --json` printed")
    parser.add_argument("--stderr", type=Path, required=True, help="what it printed on stderr")
    parser.add_argument("--report", type=Path, required=True, help="where to write the Markdown for the issue")
    args = parser.parse_args(argv)
    result, text = verdict(args.exit_code, _read(args.digest), _read(args.stderr))
    args.report.write_text(text)
    print(f"verdict={result}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
