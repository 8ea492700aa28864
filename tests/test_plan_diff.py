"""`make plan-diff`: the offline review of a base commit against the working tree.

The end-to-end test commits a K3s bump in a temporary clone and reads the review the way a reviewer
would; the rename tests take the real plan of the working tree and move or rename one registration in
the base, since a URN change must be flagged whatever caused it.
"""

from __future__ import annotations

import copy
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from offline.plan_diff import PROJECT_DIR, PlanDiffError, load_side, plan_diff, plan_sides, render
from offline.plan_review import Side, review
from tests.conftest import once_per_session

OLD, NEW = "v1.34.6+k3s1", "v1.34.7+k3s1"
NAMESPACE_TYPE = "kubernetes:core/v1:Namespace"


def git(repo: Path, *args: str) -> str:
    env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.invalid", "HOME": str(repo)}
    env |= {"GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.invalid", "PATH": "/usr/bin:/bin"}
    return subprocess.run(["git", *args], cwd=repo, env=env, check=True, capture_output=True, text=True).stdout


def _clone(repo: Path) -> Path:
    """A git repository holding this working tree (committed or not) as its one commit."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=PROJECT_DIR,
        check=True,
        capture_output=True,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = PROJECT_DIR / name
        if source.is_file() and not source.is_symlink() and not name.startswith(("venv", "policy/venv")):
            (repo / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, repo / name)
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "base")
    return repo


def _k3s_bump(clone: Path) -> tuple[Side, Side]:
    """The plans of this tree (as commit HEAD~1 of the clone) and of the same with K3s bumped one patch."""
    stack_file = clone / "Pulumi.prod.yaml"
    text = stack_file.read_text()
    assert f"honeydue:k3sVersion: {OLD}\n" in text, "the test bumps prod's K3s release by one patch"
    stack_file.write_text(text.replace(f"honeydue:k3sVersion: {OLD}", f"honeydue:k3sVersion: {NEW}"))
    git(clone, "commit", "-qam", "bump K3s")
    return plan_sides("HEAD~1", project=clone, keep_head=clone / "build" / "plan-diff-head")


# The clone and the three plans are made once per session, whichever worker needs them first (conftest.py).
@pytest.fixture(scope="module")
def clone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return once_per_session(tmp_path_factory, "plan-diff-clone", _clone)


@pytest.fixture(scope="module")
def k3s_bump(tmp_path_factory: pytest.TempPathFactory, clone: Path) -> tuple[Side, Side]:
    return once_per_session(tmp_path_factory, "plan-diff-k3s-bump", lambda _: _k3s_bump(clone))


@pytest.fixture(scope="module")
def k3s_bump_review(k3s_bump: tuple[Side, Side]) -> str:
    return review(*k3s_bump)


def document_section(review_text: str, name: str) -> str:
    start = review_text.index(f"#### `{name}` (changed)")
    end = review_text.find("\n#### ", start + 1)
    return review_text[start : end if end != -1 else None]


def test_a_k3s_bump_shows_the_changed_lines_of_each_nodes_script(k3s_bump_review: str) -> None:
    count = yaml.safe_load((PROJECT_DIR / "Pulumi.prod.yaml").read_text())["config"]["honeydue:serverCount"]
    for node in range(1, count + 1):
        section = document_section(k3s_bump_review, f"nodes/commands/honeydue-k3s-{node}-converge.create.sh")
        assert f"\n-K3S_VERSION={OLD}\n" in section and f"\n+K3S_VERSION={NEW}\n" in section, section
        # Only the version line changed, with its context: not a rewrite of the script.
        changed = [line for line in section.splitlines() if re.match(r"^[-+](?![-+]{2} )", line)]
        assert changed == [f"-K3S_VERSION={OLD}", f"+K3S_VERSION={NEW}"]


def test_a_k3s_bump_changes_only_k3s_steps_and_shows_their_text_readably(k3s_bump_review: str) -> None:
    assert "0 added" in k3s_bump_review and "0 removed" in k3s_bump_review and "0 renamed" in k3s_bump_review
    changed = re.findall(r"^- `(urn:[^`]+)`$", k3s_bump_review, flags=re.MULTILINE)
    assert changed and all(re.search(r"command:remote:Command::honeydue-k3s-\d+-", urn) for urn in changed), changed
    # Issue 13 item 4: the converge text holds no secret (the token and S3 keys go on `stdin`), so its
    # change is a readable text diff, and the secret stdin, unchanged by a version bump, is not listed.
    readable = r"honeydue-k3s-1-converge`\n  ~ create: text changed, see the document diffs below\n"
    assert re.search(readable, k3s_bump_review)
    assert "~ stdin" not in k3s_bump_review
    assert "PLACEHOLDER" not in k3s_bump_review and "<secret:" not in "".join(
        line for line in k3s_bump_review.splitlines() if line.startswith(("+", "-"))
    )


def test_an_unchanged_tree_reviews_as_no_change(k3s_bump: tuple[Side, Side], head: Side) -> None:
    # Two renders of the same tree by two routes (a commit exported by plan-diff; this working tree).
    assert "No change." in review(k3s_bump[0], head)


def test_an_unknown_base_ref_is_a_clear_error(clone: Path) -> None:
    with pytest.raises(PlanDiffError, match=r"^BASE=no-such-ref is not a commit of this repository \(try a branch"):
        plan_diff("no-such-ref", project=clone)


# ------------------------------------------------------------------------------------- renames


def _head(work: Path) -> Side:
    out = work / "dump"
    job = render(PROJECT_DIR, out, "prod")
    _, stderr = job.communicate()
    assert job.returncode == 0, stderr.decode()
    return load_side("working tree", out)


@pytest.fixture(scope="module")
def head(tmp_path_factory: pytest.TempPathFactory) -> Side:
    return once_per_session(tmp_path_factory, "plan-diff-head", _head)


def with_resource(side: Side, urn: str, record: dict[str, Any], *, replacing: str) -> Side:
    resources = {k: v for k, v in side.resources.items() if k != replacing}
    resources[urn] = record
    return Side(label="base", resources=resources, outputs=side.outputs, documents=side.documents)


def the_namespace(side: Side) -> tuple[str, dict[str, Any]]:
    (urn,) = [u for u, r in side.resources.items() if r["type"] == NAMESPACE_TYPE]
    return urn, side.resources[urn]


def test_a_resource_moved_under_another_parent_is_flagged_as_a_rename(head: Side) -> None:
    urn, record = the_namespace(head)
    # urn:pulumi:<stack>::<project>::<parent types>$<type>::<name>: the same namespace at the top level.
    stack_and_project, type_chain, name = urn.rsplit("::", 2)
    old_urn = f"{stack_and_project}::{NAMESPACE_TYPE}::{name}"
    assert type_chain != NAMESPACE_TYPE, "the namespace has a parent component in the real plan"
    base = with_resource(head, old_urn, {**record, "urn": old_urn, "parent": ""}, replacing=urn)
    text = review(base, head)
    assert "1 renamed" in text and "0 added" in text and "0 removed" in text
    assert f"- `{old_urn}`\n  → `{urn}` (same type and name under another parent)" in text
    assert "~ options.parent:" in text


def test_a_resource_renamed_with_the_same_inputs_is_flagged_as_a_rename(head: Side) -> None:
    urn, record = the_namespace(head)
    old_urn = urn.rsplit("::", 1)[0] + "::old-namespace"
    base = with_resource(head, old_urn, {**record, "urn": old_urn, "name": "old-namespace"}, replacing=urn)
    text = review(base, head)
    assert f"→ `{urn}` (same type and identical inputs under another name)" in text and "1 renamed" in text


def test_a_different_resource_of_the_same_type_is_not_a_rename(head: Side) -> None:
    urn, record = the_namespace(head)
    other = copy.deepcopy(record)
    other["inputs"]["metadata"]["name"] = "something-else"
    old_urn = urn.rsplit("::", 1)[0] + "::other"
    text = review(with_resource(head, old_urn, {**other, "urn": old_urn, "name": "other"}, replacing=urn), head)
    assert "0 renamed" in text and "1 added" in text and "1 removed" in text


def test_secrets_are_compared_by_hash_and_never_printed(head: Side) -> None:
    urn, record = next((u, r) for u, r in head.resources.items() if r["type"] == "kubernetes:core/v1:Secret")
    changed = copy.deepcopy(record)
    assert set(changed["inputs"]["stringData"]) == {"[secret]"}, "the dump holds a hash, not the value"
    changed["inputs"]["stringData"] = {"[secret]": "sha256:0000000000000000"}
    text = review(with_resource(head, urn, changed, replacing=urn), head)
    assert f"- `{urn}`\n  ~ stringData: [secret] changed (value hash differs)" in text
    assert "sha256:" not in text
    assert "No change." in review(with_resource(head, urn, copy.deepcopy(record), replacing=urn), head)


# ---------------------------------------------------------------------- the engine's verdict first


def test_the_review_opens_with_the_engine_s_decisions_replacements_deletions_and_side_effects(head: Side) -> None:
    # Issue 22 item 6: counts, every replacement and deletion with its reason, every step that acts on a
    # running system, decided by the engine model (offline/engine_diff.py), before any property line.
    sts_urn, sts = next((u, r) for u, r in head.resources.items() if r["type"] == "kubernetes:apps/v1:StatefulSet")
    base_sts = copy.deepcopy(sts)
    base_sts["inputs"]["spec"]["serviceName"] = "an-older-name"  # immutable: the engine replaces it
    step_urn, step = next((u, r) for u, r in head.resources.items() if u.endswith("::honeydue-k3s-2-converge"))
    base_step = copy.deepcopy(step)
    base_step["inputs"]["create"] = "echo an older script\n"
    gone_urn = "urn:pulumi:prod::honeydue::kubernetes:core/v1:ConfigMap::retired"
    gone = {**copy.deepcopy(sts), "urn": gone_urn, "type": "kubernetes:core/v1:ConfigMap", "name": "retired"}
    base = with_resource(head, sts_urn, base_sts, replacing=sts_urn)
    base = with_resource(base, step_urn, base_step, replacing=step_urn)
    base = with_resource(base, gone_urn, gone, replacing="")
    text = review(base, head)
    verdict = text.split("**What the engine would do**", 1)[1].split("\n### ", 1)[0]
    assert "1 replace" in verdict and "1 delete" in verdict
    assert f"- **replace** `kubernetes:apps/v1:StatefulSet` {sts['name']}: " in verdict and "serviceName" in verdict
    assert "- **delete** `kubernetes:core/v1:ConfigMap` retired: " in verdict
    assert "- on a node: honeydue-k3s-2-converge runs create again" in verdict
    assert text.index("**What the engine would do**") < text.index("### Changed")


def test_dependencies_are_named_added_and_removed_never_as_shifted_indexes(head: Side) -> None:
    urn, record = the_namespace(head)
    base = copy.deepcopy(record)
    extra = "urn:pulumi:prod::honeydue::honeydue:k3s:K3sCluster$command:remote:Command::an-older-step"
    base["dependencies"] = [extra, *base.get("dependencies", [])]  # every later index shifts by one
    text = review(with_resource(head, urn, base, replacing=urn), head)
    assert "~ options.dependencies: - an-older-step" in text and "dependencies[" not in text


def test_the_head_s_whole_plan_is_kept_for_the_artifact(k3s_bump: tuple[Side, Side], clone: Path) -> None:
    # The review shows added documents in part; the workflow uploads the head's whole plan next to it.
    kept = clone / "build" / "plan-diff-head"
    script = kept / "nodes" / "commands" / "honeydue-k3s-1-converge.create.sh"
    assert script.is_file() and f"K3S_VERSION={NEW}" in script.read_text()
    assert (kept / "nodes").is_dir() and (kept / "k8s").is_dir()
