"""The install path of `make plan` and `make test` (issue 15, item 6): the locks and tools/env.sh.

The locks pin every package of their closure (exact version, sha256 hashes) and follow their .in
files (`make lock`). tools/env.sh runs here in a copy of the project with fake apt, dpkg, sudo and uv
first on PATH and a Python whose ensurepip is hidden, as on a Debian machine without python3-venv:
no test installs a Debian package or reaches a package index.
"""

from __future__ import annotations

import importlib.metadata
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.validators import require_tool

PROJECT_DIR = Path(__file__).resolve().parents[1]
RUNTIME, DEV, UV = (PROJECT_DIR / p for p in ("requirements.txt", "requirements-dev.txt", "tools/uv.txt"))
PIN = re.compile(r"^([A-Za-z0-9][\w.-]*)==([^\s\\;]+)\s*\\?$")
HASH = re.compile(r"^--hash=sha256:([0-9a-f]{64})\s*\\?$")
Lock = dict[str, tuple[str, frozenset[str]]]
PYTHON_VERSION = ".".join(map(str, sys.version_info[:3]))
SHORT = PYTHON_VERSION.rsplit(".", 1)[0]


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


@pytest.mark.parametrize("path", [RUNTIME, DEV, UV], ids=lambda p: p.name)
def test_each_lock_pins_every_package_with_its_hashes(path: Path) -> None:
    lock = read_lock(path)
    assert lock, path
    assert all(hashes for _, hashes in lock.values()), [n for n, (_, h) in lock.items() if not h]


@pytest.mark.parametrize("lock", [RUNTIME, DEV, UV], ids=lambda p: p.name)
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
    result = subprocess.run(["make", "-n", "-B", goal], cwd=PROJECT_DIR, capture_output=True, text=True, check=True)
    return result.stdout


def test_make_plan_installs_only_the_runtime_and_graphviz() -> None:
    recipes = dry_run("plan")
    assert "tools/env.sh --label plan venv venv requirements.txt\n" in recipes
    assert "tools/env.sh --label plan debian graphviz\n" in recipes
    assert "requirements-dev.txt" not in recipes and "policy" not in recipes


def test_make_test_installs_the_tools_and_debian_packages_and_runs_pytest_in_parallel() -> None:
    recipes = dry_run("test")
    assert "tools/env.sh --label test venv venv requirements.txt requirements-dev.txt\n" in recipes
    assert "tools/env.sh --label test venv policy/venv policy/requirements.txt\n" in recipes
    assert "debian graphviz shellcheck cloud-init ufw iproute2 redis-server\n" in recipes
    assert "-m pytest -n auto" in recipes


def test_env_script_passes_shellcheck() -> None:
    shellcheck = require_tool("shellcheck")
    result = subprocess.run([shellcheck, str(PROJECT_DIR / "tools" / "env.sh")], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout


# ------------------------------------------------------------------ tools/env.sh against fakes

FAKES = {
    # Installs by marking packages installed; python3.X-venv brings ensurepip back.
    "apt-get": """echo "apt-get $*" >>"$FAKE/calls"; echo 'Reading package lists... Done (noise)'
case $1 in update) touch "$FAKE/updated" ;; install)
  [ -z "${FAKE_APT_FAIL:-}" ] || { echo "E: $FAKE_APT_FAIL" >&2; exit 100; }
  for p; do case $p in -*|install) ;; *) touch "$FAKE/installed-$p"
    [ "${p%-venv}" = "$p" ] || rm -rf "$FAKE/shadow/ensurepip" ;; esac; done ;; esac""",
    "apt-cache": """if [ -e "$FAKE/updated" ]; then echo '  Candidate: 1.0'; else echo '  Candidate: (none)'; fi""",
    "dpkg-query": """case $1 in -S) [ -n "${FAKE_DEBIAN_PYTHON:-}" ] ;;
  *) [ -e "$FAKE/installed-$3" ] && printf 'install ok installed' ;; esac""",
    "sudo": """[ "$1" = -n ] && shift; exec "$@\"""",
}
UV_FAKE = """echo "uv $*" >>"$FAKE/calls"
if [ "$1" = venv ]; then for a; do d=$a; done; "$REAL_PYTHON" -m venv --without-pip "$d"; fi
if [ -n "${FAKE_SLOW:-}" ]; then sleep "$FAKE_SLOW"; echo "uv done" >>"$FAKE/calls"; fi"""


def fake(path: Path, body: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(0o755)


class Sandbox:
    """A copy of the install files, fake system tools, and a python3 without ensurepip or pip."""

    def __init__(self, root: Path) -> None:
        self.root, self.project, self.fake_dir = root, root / "project", root / "fake"
        for rel in ("tools/env.sh", "tools/uv.txt", "requirements.txt", "requirements-dev.txt"):
            (self.project / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(PROJECT_DIR / rel, self.project / rel)
        for name, body in FAKES.items():
            fake(self.fake_dir / "bin" / name, body)
        for hidden in ("ensurepip", "pip"):  # importable as ImportError, ahead of the stdlib
            fake(self.fake_dir / "shadow" / hidden / "__init__.py", f"raise ImportError('no {hidden} (test)')")
        fake(self.fake_dir / "python3", f'PYTHONPATH="$FAKE/shadow" exec "{sys.executable}" "$@"')
        (self.fake_dir / "calls").touch()

    def pinned_uv(self) -> None:
        """As if an earlier run had fetched the pinned uv into build/tools."""
        version = re.search(r"^uv==(\S+)", UV.read_text(), re.M)
        assert version
        fake(self.project / "build" / "tools" / f"uv-{version[1]}" / "bin" / "uv", UV_FAKE)

    def run(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        environ = {
            "PATH": f"{self.fake_dir / 'bin'}:/usr/bin:/bin",
            "PYTHON": str(self.fake_dir / "python3"),
            "FAKE": str(self.fake_dir),
            "REAL_PYTHON": sys.executable,
            "HOME": str(self.root),
            **env,
        }
        script = self.project / "tools" / "env.sh"
        return subprocess.run([script, "--label", "t", *args], env=environ, capture_output=True, text=True, timeout=120)

    def calls(self) -> list[str]:
        return (self.fake_dir / "calls").read_text().splitlines()


@pytest.fixture
def box(tmp_path: Path) -> Sandbox:
    require_tool("flock")
    return Sandbox(tmp_path)


def test_debian_python_without_ensurepip_gets_its_venv_package(box: Sandbox) -> None:
    box.pinned_uv()
    result = box.run("venv", "venv", "requirements.txt", FAKE_DEBIAN_PYTHON="1")
    assert result.returncode == 0, result.stderr
    count = len(read_lock(RUNTIME))
    assert result.stdout.splitlines() == [
        f"[t] {box.fake_dir / 'python3'} has no ensurepip: Debian: installing python{SHORT}-venv…",
        f"[t] creating venv (Python {PYTHON_VERSION})…",
        f"[t] installing {count} locked packages (requirements.txt) with uv…",
    ]
    assert result.stderr == ""  # apt's noise is in build/logs, not on the terminal
    assert (box.project / "venv" / "bin" / "pip").exists()  # the real ensurepip ran once "installed"
    calls = box.calls()
    assert calls[0] == "apt-get update -q"  # the package lists knew no python3.X-venv yet
    assert calls[1] == f"apt-get install -y -q --no-install-recommends python{SHORT}-venv"
    assert re.fullmatch(r"uv pip install --python venv/bin/python -r requirements.txt --require-hashes", calls[2])


def test_without_debian_packages_uv_makes_the_venv(box: Sandbox) -> None:
    box.pinned_uv()
    result = box.run("venv", "venv", "requirements.txt", "requirements-dev.txt")
    assert result.returncode == 0, result.stderr
    assert "has no ensurepip (Debian package python3." in result.stdout and "with uv venv --seed" in result.stdout
    count = len(read_lock(RUNTIME).keys() | read_lock(DEV).keys())
    assert f"installing {count} locked packages (requirements.txt requirements-dev.txt) with uv…" in result.stdout
    venv_call, install_call = box.calls()
    assert venv_call == f"uv venv --quiet --seed --python {box.fake_dir / 'python3'} venv"
    assert install_call.endswith("-r requirements.txt -r requirements-dev.txt --require-hashes")


def test_without_ensurepip_pip_or_uv_the_message_says_what_to_install(box: Sandbox) -> None:
    result = box.run("venv", "venv", "requirements.txt")
    assert result.returncode == 1
    assert f"has no ensurepip. On Debian/Ubuntu: sudo apt-get install python{SHORT}-venv" in result.stderr
    assert not (box.project / "venv").exists() and box.calls() == []


def test_missing_debian_packages_install_with_one_line_and_installed_ones_with_none(box: Sandbox) -> None:
    first = box.run("debian", "graphviz", "shellcheck")
    assert (first.returncode, first.stdout, first.stderr) == (0, "[t] Debian: installing graphviz shellcheck…\n", "")
    again = box.run("debian", "graphviz", "shellcheck")
    assert (again.returncode, again.stdout, again.stderr) == (0, "", "")
    assert box.calls() == ["apt-get update -q", "apt-get install -y -q --no-install-recommends graphviz shellcheck"]


def test_a_failed_install_shows_its_output_and_the_log(box: Sandbox) -> None:
    result = box.run("debian", "graphviz", FAKE_APT_FAIL="Unable to locate package graphviz")
    assert result.returncode == 1
    assert "E: Unable to locate package graphviz" in result.stderr
    assert "(whole output: build/logs/apt-install.log)" in result.stderr
    # Stale lists are refreshed once before giving up.
    assert [c.split()[1] for c in box.calls()] == ["update", "install", "update", "install"]


def test_a_second_install_of_the_same_venv_waits_for_the_first(box: Sandbox) -> None:
    """Two pytest workers may both ask make for policy/venv: tools/env.sh builds one venv at a time."""
    box.pinned_uv()
    argv = [str(box.project / "tools" / "env.sh"), "venv", "venv", "requirements.txt"]
    env = {**os.environ, "PATH": f"{box.fake_dir / 'bin'}:/usr/bin:/bin", "PYTHON": sys.executable}
    env |= {"FAKE": str(box.fake_dir), "REAL_PYTHON": sys.executable, "FAKE_SLOW": "1"}
    runs = [subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) for _ in range(2)]
    assert [run.wait(timeout=120) for run in runs] == [0, 0]
    installs = [c.split()[1] for c in box.calls() if c.startswith("uv pip") or c == "uv done"]
    assert installs == ["pip", "done", "pip", "done"]  # never two installs at once
