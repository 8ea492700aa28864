"""`make plan-diff BASE=<ref>`: the offline plan of a base commit next to the working tree's, as a review.

Both sides are evaluated under the mock engine by `offline/plan_dump.py`, each with its own code and
config, so no credential, state or cloud is involved and it runs for forks too. The base is exported
with `git archive` into a temporary directory rather than checked out with `git worktree add`: nothing
is registered in the repository's .git, so an interrupted run leaves nothing behind. The same venv
(this interpreter) runs both sides, in parallel. The review (Markdown, posted on
pull requests by .github/workflows/plan-diff-comment.yml) lists resources added, removed, renamed and
changed property by property (secrets as `[secret]`, compared by a hash of their value only), then the
node scripts, cloud-init documents and Kubernetes YAML as unified diffs. Rules: offline/plan_review.py.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path
from typing import Any

from offline.plan_review import Side, review

PROJECT_DIR = Path(__file__).resolve().parents[1]
DUMPER = Path(__file__).resolve().with_name("plan_dump.py")


class PlanDiffError(Exception):
    """A side could not be rendered (bad ref, program error): the message says which and why."""


def git(*args: str, cwd: Path = PROJECT_DIR) -> bytes:
    run = subprocess.run(["git", *args], cwd=cwd, capture_output=True, check=False)
    if run.returncode != 0:
        raise PlanDiffError(f"git {' '.join(args)}: {run.stderr.decode(errors='replace').strip()}")
    return run.stdout


def export_ref(ref: str, into: Path, repo: Path = PROJECT_DIR) -> str:
    """Writes the tree of `ref` into `into` (tracked files only, no .git) and returns its commit id."""
    try:
        commit = git("rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}", cwd=repo).decode().strip()
    except PlanDiffError:
        raise PlanDiffError(f"BASE={ref} is not a commit of this repository (try a branch, a tag or a sha)") from None
    archive = into / "base.tar"
    archive.write_bytes(git("archive", "--format=tar", commit, cwd=repo))
    with tarfile.open(archive) as tar:
        tar.extractall(into / "tree", filter="data")
    archive.unlink()
    return commit


def render(project: Path, out: Path, stack: str) -> subprocess.Popen[bytes]:
    """Starts the dumper on one checkout (a copy of it, so the checkout's own code imports nothing new)."""
    dumper = out.parent / f"{out.name}-plan_dump.py"
    shutil.copyfile(DUMPER, dumper)
    command = [sys.executable, str(dumper), "--project", str(project), "--out", str(out), "--stack", stack]
    return subprocess.Popen(command, cwd=project, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def load_side(label: str, out: Path) -> Side:
    document: dict[str, Any] = json.loads((out / "resources.json").read_text())
    documents = {
        str(path.relative_to(out / "plan")): path.read_text()
        for folder in ("nodes", "k8s")
        for path in sorted((out / "plan" / folder).rglob("*"))
        if path.is_file()
    }
    return Side(label=label, resources=document["resources"], outputs=document["outputs"], documents=documents)


def plan_diff(base: str, *, stack: str = "prod", project: Path = PROJECT_DIR, keep_head: Path | None = None) -> str:
    """The review of `base` against the working tree of `project`, as Markdown; `keep_head` receives the
    head's whole plan (nodes/, k8s/), which the review shows only in part."""
    return review(*plan_sides(base, stack=stack, project=project, keep_head=keep_head))


def plan_sides(
    base: str, *, stack: str = "prod", project: Path = PROJECT_DIR, keep_head: Path | None = None
) -> tuple[Side, Side]:
    """The rendered plans of `base` and of the working tree of `project`, rendered side by side."""
    with tempfile.TemporaryDirectory(prefix="plan-diff-") as temp:
        work = Path(temp)
        commit = export_ref(base, work, repo=project)
        jobs = {
            "base": render(work / "tree", work / "base", stack),
            "head": render(project, work / "head", stack),
        }
        failures = []
        for name, job in jobs.items():
            _, stderr = job.communicate()
            if job.returncode != 0:
                failures.append(f"the {name} plan failed:\n{stderr.decode(errors='replace').strip()}")
        if failures:
            raise PlanDiffError("\n\n".join(failures))
        before = load_side(f"{base} ({commit[:12]})", work / "base")
        after = load_side("working tree", work / "head")
        if keep_head is not None:
            shutil.rmtree(keep_head, ignore_errors=True)
            shutil.copytree(work / "head" / "plan", keep_head)
    return before, after


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m offline.plan_diff", description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", required=True, help="git ref to compare with, e.g. origin/main")
    parser.add_argument("--stack", default="prod")
    parser.add_argument("--out", type=Path, help="also write the review to this file")
    args = parser.parse_args(argv)
    try:
        head_plan = args.out.parent / "plan-diff-head" if args.out else None
        text = plan_diff(args.base, stack=args.stack, keep_head=head_plan)
    except PlanDiffError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
