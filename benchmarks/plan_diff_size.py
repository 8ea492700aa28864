"""Prints how large the plan-diff review of a past change is, and whether it fits one PR comment.

    venv/bin/python -m benchmarks.plan_diff_size [--commit 31de539]

The default is the durability wave (merge 31de539: its first parent is the tree before it). Both sides are
rendered with their own commit's code (offline/plan_dump.py), the review with this checkout's
(offline/plan_review.py), in a temporary git worktree. The comment job cuts at 58,000 characters at a line
(.github/workflows/plan-diff-comment.yml).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parents[1]
COMMENT_LIMIT = 58_000


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.plan_diff_size", description=__doc__.split("\n")[0])
    parser.add_argument("--commit", default="31de539", help="a merge commit: its first parent is the base")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(PROJECT_DIR))
    from offline.plan_diff import plan_sides
    from offline.plan_review import review

    with tempfile.TemporaryDirectory(prefix="plan-diff-size-") as temp:
        tree = Path(temp) / "tree"
        subprocess.run(
            ["git", "worktree", "add", "-q", "--detach", str(tree), args.commit], cwd=PROJECT_DIR, check=True
        )
        try:
            (tree / "venv").symlink_to(PROJECT_DIR / "venv")
            before, after = plan_sides(f"{args.commit}^1", project=tree)
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(tree)], cwd=PROJECT_DIR, check=False)
    text = review(before, after)
    verdict = text.split("**What the engine would do**", 1)[-1].split("\n### ", 1)[0]
    print(f"review of {args.commit}^1 -> {args.commit}: {len(text):,} characters ({text.count(chr(10)):,} lines)")
    print(f"one comment ({COMMENT_LIMIT:,}): {'yes' if len(text) <= COMMENT_LIMIT else 'no, cut at a line'}")
    print(f"verdict ({len(verdict):,} characters, at the top):{verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
