"""The locks of `make plan` and `make test` (issue 15, item 6), and what each of the two installs.

requirements.txt (the program's runtime) and requirements-dev.txt (test tools) pin every package of
their closure at an exact version with its sha256 hashes, and follow their .in files: `make lock`
writes them. `make plan` installs the runtime and graphviz only; `make test` the rest too.
"""

from __future__ import annotations

import importlib.metadata
import os
import re
import subprocess
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

PROJECT_DIR = Path(__file__).resolve().parents[1]
RUNTIME, DEV, UV = (PROJECT_DIR / p for p in ("requirements.txt", "requirements-dev.txt", "tools/uv.txt"))
POLICY = PROJECT_DIR / "policy" / "requirements.txt"  # the policy pack's own venv (issue 22 item 7: hash-locked)
PIN = re.compile(r"^([A-Za-z0-9][\w.-]*)==([^\s\\;]+)\s*\\?$")
HASH = re.compile(r"^--hash=sha256:([0-9a-f]{64})\s*\\?$")
Lock = dict[str, tuple[str, frozenset[str]]]


def read_lock(path: Path) -> Lock:
    """name -> (version, sha256 hashes); fails on anything but an exact pin or its hashes."""
    pins: dict[str, tuple[str, set[str]]] = {}
    name = ""
    for line in (s.strip() for s in path.read_text().splitlines()):
        if not line or line.startswith("#"):
            continue
        if (digest := HASH.match(line)) and name:
            pins[name][1].add(digest[1])
        elif pin := PIN.match(line):
            name = canonicalize_name(pin[1])
            pins[name] = (pin[2], set())
        else:
            pytest.fail(f"{path.name}: not an exact pin or its hash: {line!r}")
    return {n: (v, frozenset(h)) for n, (v, h) in pins.items()}


def read_in(path: Path) -> dict[str, str]:
    lines = (s.split("#")[0].strip() for s in path.read_text().splitlines())
    return {canonicalize_name(n): v for n, _, v in (s.partition("==") for s in lines if s)}


@pytest.mark.parametrize("path", [RUNTIME, DEV, UV, POLICY], ids=lambda p: str(p.relative_to(PROJECT_DIR)))
def test_each_lock_pins_every_package_with_its_hashes(path: Path) -> None:
    lock = read_lock(path)
    assert lock, path
    assert all(hashes for _, hashes in lock.values()), [n for n, (_, h) in lock.items() if not h]


@pytest.mark.parametrize("lock", [RUNTIME, DEV, UV, POLICY], ids=lambda p: str(p.relative_to(PROJECT_DIR)))
def test_each_lock_holds_the_pins_of_its_in_file(lock: Path) -> None:
    wanted = read_in(lock.with_suffix(".in"))
    locked = {name: version for name, (version, _) in read_lock(lock).items()}
    assert wanted and {n: locked.get(n) for n in wanted} == wanted, f"{lock.name} is stale: run `make lock`"


def test_runtime_and_dev_locks_agree_where_they_overlap() -> None:
    runtime, dev = read_lock(RUNTIME), read_lock(DEV)
    shared = runtime.keys() & dev.keys()
    assert "pyyaml" in shared  # both lists need it: the agreement is not vacuous
    assert {n: dev[n] for n in shared} == {n: runtime[n] for n in shared}


@pytest.mark.parametrize("path", [RUNTIME, DEV], ids=lambda p: p.name)
def test_each_lock_is_closed_and_is_what_this_venv_holds(path: Path) -> None:
    """Every dependency of a locked package (its installed metadata, markers for this Python) is locked."""
    lock = read_lock(path)
    unlocked: dict[str, list[str]] = {}
    for name, (version, _) in lock.items():
        dist = importlib.metadata.distribution(name)
        assert dist.version == version, f"{name} {dist.version} installed, {version} locked: make venv/.installed"
        for requirement in map(Requirement, dist.requires or []):
            applies = requirement.marker is None or requirement.marker.evaluate({"extra": ""})
            if applies and canonicalize_name(requirement.name) not in lock:
                unlocked.setdefault(name, []).append(requirement.name)
    assert not unlocked, f"{path.name} misses dependencies: {unlocked}"


def dry_run(goal: str) -> str:
    """The recipes `make GOAL` runs, with the Makefile's defaults: under `make unit PYTEST_WORKERS=2` the
    outer make hands its overrides down through MAKEFLAGS, and the environment may set them too."""
    overrides = {"MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES", "PYTEST_WORKERS", "PYTHON", "STACK"}
    env = {k: v for k, v in os.environ.items() if k not in overrides}
    argv = ["make", "-n", "-B", goal]
    return subprocess.run(argv, cwd=PROJECT_DIR, env=env, capture_output=True, text=True, check=True).stdout


def test_make_plan_installs_only_the_runtime_and_graphviz() -> None:
    recipes = dry_run("plan")
    assert "tools/env.sh --label plan venv venv requirements.txt\n" in recipes
    assert "tools/env.sh --label plan debian graphviz\n" in recipes
    assert "requirements-dev.txt" not in recipes and "policy" not in recipes


def test_make_test_installs_the_tools_and_debian_packages_and_runs_pytest_in_parallel() -> None:
    recipes = dry_run("test")
    assert "tools/env.sh --label test venv venv requirements.txt requirements-dev.txt\n" in recipes
    assert "tools/env.sh --label test venv policy/venv policy/requirements.txt\n" in recipes
    assert "debian graphviz shellcheck cloud-init ufw iproute2 ipset redis-server rclone openssl jq curl\n" in recipes
    assert f"-m pytest -n {len(os.sched_getaffinity(0)) + 1}\n" in recipes  # nproc + 1 (Makefile)
