"""Every command block of the operator docs runs as written (issue 24 item 1), or says why it can't here.

Each fenced shell block (`sh`, `bash`, `shell`, `console`) of docs/migration.md, docs/runbook.md, docs/ci.md
and docs/outputs.md is preceded by a marker: `<!-- commands: checked -->` or
`<!-- commands: real environment only: <reason> -->`. A checked block runs in bash, in a scratch directory,
with fakes of the CLIs it calls (`pulumi`, `make`, `esc`, `hcloud`, `kubectl`, `ssh`, `ssh-keyscan`,
`ssh-keygen`, `curl`, `gh`, `diff`) that record their arguments; `<placeholders>` become words
first (`honeydue-N` becomes honeydue-2). Then every recorded `pulumi`, `make`, `esc` and `hcloud` call is
checked against the repository or upstream: config keys and paths Pulumi.yaml declares, URNs the program
registers (as the engine writes them), Make targets and variables that exist, fully qualified ESC
environments and paths esc/*.yaml holds, hcloud commands and flags of the CLI's source (HCLOUD_COMMANDS).
"""

from __future__ import annotations

import functools
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from offline.harness import run_program
from offline.stack_config import PROJECT_DIR, declared_config
from tools.adopt_keys import engine_urn

DOCS = ("docs/migration.md", "docs/runbook.md", "docs/ci.md", "docs/outputs.md")
FAKES = ("pulumi", "make", "esc", "hcloud", "kubectl", "ssh", "ssh-keyscan", "ssh-keygen", "curl", "gh", "diff")
BLOCK = re.compile(
    r"^(?P<indent> *)```(?P<lang>\w*)\n(?P<body>.*?)^(?P=indent)```", re.ASCII | re.MULTILINE | re.DOTALL
)
MARKER = re.compile(
    r"<!-- commands: (checked|tested: tests/\w+\.py \([a-z0-9-]+\)|real environment only: [^>]{10,}) -->", re.ASCII
)
# `tested: tests/<file>.py (<id>)`: a block the fakes cannot run (it needs rclone talking to S3, redis-cli
# to Redis), which that test file runs as written against local stand-ins, finding it by its id.
TESTED = re.compile(r"tested: (tests/\w+\.py) \(([a-z0-9-]+)\)", re.ASCII)
PLACEHOLDER = re.compile(r"<[^<>\n]+>", re.ASCII)
SHELL_LANGS = ("sh", "bash", "shell", "console")
# The hcloud commands the docs may use, with their flags (besides -o json on list and describe), as
# hetznercloud/cli declares them (commit 1255e956, v1.67.0+9: internal/cmd/base/{list,describe}.go
# output.AddFlag with OptionJSON; server/add_to_placement_group.go, server/shutdown.go, context/create.go).
HCLOUD_COMMANDS: dict[tuple[str, str], frozenset[str]] = {
    ("server", "list"): frozenset({"-o"}),
    ("network", "describe"): frozenset({"-o"}),
    ("placement-group", "list"): frozenset({"-o"}),
    ("ssh-key", "list"): frozenset({"-o"}),
    ("firewall", "list"): frozenset({"-o"}),
    ("server", "add-to-placement-group"): frozenset({"--placement-group", "-g"}),
    ("server", "shutdown"): frozenset({"--wait", "--wait-timeout"}),
    ("server", "poweron"): frozenset(),
    ("context", "create"): frozenset({"--token-from-env"}),
    ("context", "delete"): frozenset(),
}


def command_blocks() -> list[tuple[str, int, str, str]]:
    """(doc, line, marker, body) of every sh block; marker is "" when the line before has none."""
    found = []
    for doc in DOCS:
        text = (PROJECT_DIR / doc).read_text(encoding="utf-8")
        for match in BLOCK.finditer(text):
            if match.group("lang") not in SHELL_LANGS:
                continue
            line = text.count("\n", 0, match.start()) + 1
            before = text[: match.start()].rstrip("\n").splitlines()[-1:] or [""]
            marker = MARKER.search(before[0])
            body = "\n".join(ln[len(match.group("indent")) :] for ln in match.group("body").splitlines())
            found.append((doc, line, marker.group(1) if marker else "", body))
    return found


BLOCKS = command_blocks()
CHECKED = [b for b in BLOCKS if b[2] == "checked"]


def test_every_command_block_is_checked_or_says_why_not() -> None:
    unmarked = [f"{doc}:{line}" for doc, line, marker, _ in BLOCKS if not marker]
    assert not unmarked, f"command blocks without a `<!-- commands: … -->` marker: {unmarked}"
    for doc, line, marker, _ in BLOCKS:
        if tested := TESTED.fullmatch(marker):
            path, block_id = tested.groups()
            assert f'"{block_id}"' in (PROJECT_DIR / path).read_text(), f"{doc}:{line}: {path} never runs {block_id}"
    assert len(BLOCKS) >= 18 and len(CHECKED) >= 10


@functools.cache
def _engine_urns() -> frozenset[str]:
    plan = run_program("prod", {"agentCount": 2})  # prod's resources and the agents'
    return frozenset(engine_urn(r.urn) for r in plan.registrations)


def _make_targets() -> set[str]:
    text = (PROJECT_DIR / "Makefile").read_text(encoding="utf-8")
    return set(re.findall(r"^([a-z][a-z-]*):", text, re.MULTILINE | re.ASCII))


@functools.cache
def _make_usage() -> dict[str, str]:
    """Target -> the variable it refuses to run without (its `usage: make <target> VAR=…` line)."""
    text = (PROJECT_DIR / "Makefile").read_text(encoding="utf-8")
    return dict(re.findall(r"usage: make ([a-z-]+) ([A-Z_]+)=", text, re.ASCII))


@functools.cache
def _make_variables() -> frozenset[str]:
    """Variables the Makefile reads: assigned (`NAME ?=`, `NAME =`) or referenced (`$(NAME)`)."""
    text = (PROJECT_DIR / "Makefile").read_text(encoding="utf-8")
    assigned = re.findall(r"^([A-Z][A-Z0-9_]*) *[?:]?=", text, re.MULTILINE | re.ASCII)
    return frozenset(assigned) | frozenset(re.findall(r"\$\((?:value )?([A-Z][A-Z0-9_]*)\)", text, re.ASCII))


def _esc_has(environment: str, path: str) -> bool:
    """Whether `<org>/honeydue/<env>` (fully qualified: the esc CLI reads a two-part name as `<org>/<env>` of
    the legacy default project when it can, pulumi/esc cmd/esc/cli/env.go) defines `path`."""
    org, _, rest = environment.partition("/")
    name = rest.removeprefix("honeydue/")
    file = PROJECT_DIR / "esc" / f"{name}.yaml"
    if not org or not rest.startswith("honeydue/") or not file.is_file():
        return False
    node: Any = yaml.safe_load(file.read_text(encoding="utf-8")).get("values") or {}
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return True


def _config_key(key: str) -> str:
    """The declared key a `pulumi config` key names ("" = none): `honeydue:<key>` with an optional [index]."""
    match = re.fullmatch(r"honeydue:([A-Za-z0-9]+)(\[\d+\])?", key, re.ASCII)
    return match.group(1) if match and match.group(1) in declared_config() else ""


def _hcloud_problems(args: list[str]) -> list[str]:
    command = [*args, "", ""][:2]
    flags = HCLOUD_COMMANDS.get((command[0], command[1]))
    if flags is None:
        return [f"hcloud {' '.join(command)}: not a command the docs may use (HCLOUD_COMMANDS)"]
    given = [a.split("=", 1)[0] for a in args[2:] if a.startswith("-")]
    return [f"hcloud {' '.join(command)}: no flag {flag}" for flag in given if flag not in flags]


def _make_problems(args: list[str]) -> list[str]:
    targets = [a for a in args if not a.startswith("-") and "=" not in a]
    given = {a.split("=", 1)[0] for a in args if "=" in a}
    found = [f"make {t}: no such target" for t in targets if t not in _make_targets()]
    found += [f"make {v}: no such variable" for v in sorted(given) if v not in _make_variables()]
    found += [f"make {t}: needs {_make_usage()[t]}=" for t in targets if _make_usage().get(t, "") not in ("", *given)]
    for name, value in (a.split("=", 1) for a in args if a.startswith(("REPLACE=", "TARGET="))):
        found += [f"make {name}={u}: the program registers no such resource" for u in value.split()
                  if u not in _engine_urns()]  # fmt: skip
    return found


def _pulumi_problems(args: list[str]) -> list[str]:
    if args[:2] in (["config", "set"], ["config", "rm"]):
        key = next(a for a in args[2:] if not a.startswith("--"))
        return [] if _config_key(key) else [f"pulumi config: {key} is not a declared key"]
    # Issue 24 item 3: a local preview or up runs the policy pack like CI's (`make preview`, `make up`).
    found = [] if args[:1] not in (["up"], ["preview"]) or "--policy-pack" in args else [f"pulumi {args[0]}: use make"]
    for option in ("--replace", "--target"):
        for i, arg in enumerate(args):
            urn = args[i + 1] if arg == option and i + 1 < len(args) else arg.removeprefix(f"{option}=")
            if (arg == option or arg.startswith(f"{option}=")) and urn not in _engine_urns():
                found.append(f"pulumi {option} {urn}: the program registers no such resource")
    return found


def problems_of(call: list[str]) -> list[str]:
    """What is wrong with one recorded call of a CLI the repository (or upstream's source) can answer for."""
    tool, args = call[0], call[1:]
    if tool == "esc" and args[:2] == ["env", "set"]:
        return [] if _esc_has(args[2], args[3]) else [f"esc env set {args[2]} {args[3]}: not in esc/*.yaml"]
    checks = {"hcloud": _hcloud_problems, "make": _make_problems, "pulumi": _pulumi_problems}
    return checks[tool](args) if tool in checks else []


# The last byte `esc env set … --file -` would store, as od prints it: `\n` for a newline.
ESC_STDIN_CHECK = r"""case " $* " in *" --file - "*)
    tail -c 1 | od -An -c | grep -q '\\n' && echo "esc: a stored trailing newline" >> "$CALLS.problems";;
esac
exit 0
"""


@pytest.mark.parametrize(("doc", "line", "marker", "body"), CHECKED, ids=[f"{b[0]}:{b[1]}" for b in CHECKED])
def test_a_checked_block_runs_as_written(doc: str, line: int, marker: str, body: str, tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (tmp_path / "live").mkdir()  # docs/migration.md step 2 makes it; later steps write and read there
    log = tmp_path / "calls.jsonl"
    for name in FAKES:
        fake = bin_dir / name
        # One line per call, the arguments separated by the ASCII unit separator.
        fake.write_text(f'#!/bin/sh\n{{ printf "%s" "{name}"; printf "\\037%s" "$@"; printf "\\n"; }} >> "$CALLS"\n')
        if name == "esc":  # what `--file -` would store: a value ending in a newline is refused by the program
            fake.write_text(fake.read_text() + ESC_STDIN_CHECK)
        fake.chmod(0o755)
    script = PLACEHOLDER.sub("placeholder", body.replace("honeydue-N", "honeydue-2"))
    env = {**os.environ, "PATH": f"{bin_dir}:/usr/bin:/bin", "CALLS": str(log), "HOME": str(tmp_path)}
    done = subprocess.run(
        ["bash", "-eo", "pipefail", "-c", script],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=30,
        input="a value the operator pastes\n",  # what `read -rs VALUE` takes
    )  # fmt: skip
    assert done.returncode == 0, f"{doc}:{line}: {done.stderr}"
    calls = [ln.split("\x1f") for ln in log.read_text().splitlines()] if log.exists() else []
    assert calls, f"{doc}:{line}: the block calls none of {FAKES}"
    problems = [p for call in calls for p in problems_of(call)]
    stdin_problems = Path(f"{log}.problems")
    problems += stdin_problems.read_text().splitlines() if stdin_problems.exists() else []
    assert not problems, f"{doc}:{line}: {problems}"


def test_the_checker_has_teeth() -> None:
    assert problems_of(["pulumi", "config", "set", "honeydue:adoptId[0]", "x"])
    assert problems_of(
        ["pulumi", "up", "--replace", "urn:pulumi:prod::honeydue::hcloud:index/server:Server::honeydue-2"]
    )
    assert problems_of(["make", "adopt-target"]) and problems_of(
        ["esc", "env", "set", "placeholder/honeydue/prod-shared", "k3s.tokn"]
    )
    assert problems_of(["pulumi", "up"]) and problems_of(["make", "up", "REPLACE=urn:pulumi:prod::honeydue::x"])
    assert problems_of(["esc", "env", "set", "honeydue/prod-shared", "k3s.token"])  # not fully qualified
    assert not problems_of(["esc", "env", "set", "placeholder/honeydue/prod-shared", "k3s.token"])
    assert problems_of(["hcloud", "server", "lst"]) and problems_of(["hcloud", "server", "list", "--bogus"])
    assert problems_of(["make", "adopt-check", "LIEV=live/"]) and not problems_of(["make", "adopt-check", "LIVE=l/"])
    assert problems_of(["make", "adopt-keys"]) == ["make adopt-keys: needs LIVE="]
    assert not problems_of(["hcloud", "server", "add-to-placement-group", "--placement-group", "g", "honeydue-2"])
    assert not problems_of(["pulumi", "config", "set", "--path", "honeydue:adoptIds[0]", "x"])


def _expected_preview(scenario: str, index: int) -> set[tuple[str, str]]:
    """(action, name) pairs of the runbook's `preview of:` block for `scenario`, node N as `index`."""
    text = (PROJECT_DIR / "docs" / "runbook.md").read_text(encoding="utf-8")
    block = text.split(f"<!-- preview of: {scenario} -->", 1)[1].split("```text\n", 1)[1].split("```", 1)[0]
    found: set[tuple[str, str]] = set()
    for row in filter(str.strip, block.splitlines()):
        action, kind, names = row.split(None, 2)
        first = ""
        for item in re.sub(r"\([^)]*\)", "", names).split(","):
            item = re.sub(r"-N\b", f"-{index}", item.strip())
            if kind == "DnsRecord":
                found |= {(action, f"{kind}:{item}")}
                continue
            name = first.rsplit("-", 1)[0] + item if item.startswith("-") else item
            first = name if not item.startswith("-") else first
            found.add((action, name))
    return found


PREVIEWS = re.findall(r"<!-- preview of: ([a-z0-9-]+) -->", (PROJECT_DIR / "docs" / "runbook.md").read_text(), re.ASCII)


def test_the_runbook_shows_the_expected_preview_of_each_procedure_with_a_scenario() -> None:
    assert PREVIEWS == ["replace-server-2", "switch-kube-proxy-mode", "grow-redis-volume"]


@pytest.mark.parametrize("name", PREVIEWS)
def test_the_runbooks_expected_preview_is_what_the_scenario_shows(name: str) -> None:
    # Issue 24 item 3: each runbook procedure lists what the preview shows; the scenario is the judge.
    from offline.scenarios import run

    diff = run(name).diff
    is_record = "cloudflare:index/dnsRecord:DnsRecord"
    touched = {(c.action, c.name) for c in diff.changes if c.action != "same" and c.type != is_record}
    records = {c.name for c in diff.changes if c.type == is_record and c.action != "same"}
    expected = _expected_preview(name, 2)
    assert {e for e in expected if not e[1].startswith("DnsRecord:")} == touched
    listed = [e for e in expected if e[1].startswith("DnsRecord:")]
    # "every record of honeydue-N" stands for the node's records; no other record may change.
    assert records == {c.name for c in diff.changes if c.type == is_record and listed and c.name.endswith("-2")}


@pytest.mark.parametrize(("stored", "refused"), [("a value\n", True), ("a value ending in n", False)])
def test_the_fake_esc_notices_a_stored_trailing_newline(stored: str, refused: bool, tmp_path: Path) -> None:
    fake = tmp_path / "esc"
    fake.write_text("#!/bin/sh\n" + ESC_STDIN_CHECK)
    fake.chmod(0o755)
    env = {**os.environ, "CALLS": str(tmp_path / "calls")}
    subprocess.run([str(fake), "env", "set", "o/honeydue/prod", "k", "--file", "-"], input=stored, env=env, text=True)
    assert (tmp_path / "calls.problems").exists() == refused
