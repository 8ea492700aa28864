"""tools/env.sh, the install steps of `make plan` and `make test` (issue 15, item 6).

It runs here in a copy of the project with fake apt, dpkg, sudo and uv first on PATH, a local index
holding a fake uv wheel, and a Python whose ensurepip (and pip) are hidden, as on a Debian machine
without python3-venv: no test installs a Debian package or reaches a package index.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.test_locks import DEV, RUNTIME, UV, read_lock
from tests.validators import require_tool

PROJECT_DIR = Path(__file__).resolve().parents[1]
PYTHON_VERSION = ".".join(map(str, sys.version_info[:3]))
SHORT = PYTHON_VERSION.rsplit(".", 1)[0]


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
# Records its calls; `uv venv` makes a venv (without pip, as a reminder that the fake seeds nothing).
UV_FAKE = """[ "$1" = --version ] && exec echo 'uv (fake)'
echo "uv $*" >>"$FAKE/calls"
if [ "$1" = venv ]; then for a; do d=$a; done; "$REAL_PYTHON" -m venv --without-pip "$d"; fi
if [ "$1" = pip ] && [ -n "${FAKE_SLOW:-}" ]; then sleep "$FAKE_SLOW"; echo "uv done" >>"$FAKE/calls"; fi"""
UV_VERSION = re.findall(r"^uv==(\S+)", UV.read_text(), re.M)[0]


def fake(path: Path, body: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(0o755)


def fake_uv_wheel(directory: Path) -> str:
    """A wheel named uv whose script is the fake uv (the real one ships bin/uv the same way); its sha256."""
    directory.mkdir(parents=True)
    info = f"uv-{UV_VERSION}.dist-info"
    files = {
        f"uv-{UV_VERSION}.data/scripts/uv": f"#!/bin/sh\n{UV_FAKE}\n",
        f"{info}/METADATA": f"Metadata-Version: 2.1\nName: uv\nVersion: {UV_VERSION}\n",
        f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    files[f"{info}/RECORD"] = "".join(f"{name},,\n" for name in [*files, f"{info}/RECORD"])
    wheel = directory / f"uv-{UV_VERSION}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for name, text in files.items():
            entry = zipfile.ZipInfo(name)
            entry.external_attr = (0o100000 | 0o755) << 16  # a regular executable file: pip keeps the x bit
            archive.writestr(entry, text)
    return hashlib.sha256(wheel.read_bytes()).hexdigest()


class Sandbox:
    """A copy of the install files, fake system tools, a local index holding a fake uv, and a python3
    whose `hide`n modules raise ImportError (ahead of the stdlib), as on Debian without python3-venv."""

    def __init__(self, root: Path, hide: tuple[str, ...] = ("ensurepip", "pip")) -> None:
        self.root, self.project, self.fake_dir = root, root / "project", root / "fake"
        for rel in ("tools/env.sh", "requirements.txt", "requirements-dev.txt"):
            (self.project / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(PROJECT_DIR / rel, self.project / rel)
        digest = fake_uv_wheel(self.fake_dir / "wheels")
        (self.project / "tools" / "uv.txt").write_text(f"uv=={UV_VERSION} \\\n    --hash=sha256:{digest}\n")
        for name, body in FAKES.items():
            fake(self.fake_dir / "bin" / name, body)
        for module in hide:
            fake(self.fake_dir / "shadow" / module / "__init__.py", f"raise ImportError('no {module} (test)')")
        fake(self.fake_dir / "python3", f'PYTHONPATH="$FAKE/shadow" exec "{sys.executable}" "$@"')
        (self.fake_dir / "calls").touch()

    def pinned_uv(self) -> None:
        """As if an earlier run had fetched the pinned uv into build/tools."""
        fake(self.project / "build" / "tools" / f"uv-{UV_VERSION}" / "bin" / "uv", UV_FAKE)

    def env(self, **extra: str) -> dict[str, str]:
        return {
            "PATH": f"{self.fake_dir / 'bin'}:/usr/bin:/bin",
            "PYTHON": str(self.fake_dir / "python3"),
            "FAKE": str(self.fake_dir),
            "REAL_PYTHON": sys.executable,
            "HOME": str(self.root),
            # pip finds the fake uv in the local index and nowhere else; no pip.conf applies.
            "PIP_CONFIG_FILE": os.devnull,
            "PIP_NO_INDEX": "1",
            "PIP_FIND_LINKS": str(self.fake_dir / "wheels"),
            **extra,
        }

    def run(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        argv = [str(self.project / "tools" / "env.sh"), "--label", "t", *args]
        return subprocess.run(argv, env=self.env(**env), capture_output=True, text=True, timeout=120)

    def calls(self) -> list[str]:
        return (self.fake_dir / "calls").read_text().splitlines()


@pytest.fixture
def box(tmp_path: Path) -> Sandbox:
    require_tool("flock")
    return Sandbox(tmp_path)


RUNTIME_COUNT = len(read_lock(RUNTIME))
INSTALL = "uv pip install --python venv/bin/python -r requirements.txt --require-hashes"


def test_a_python_with_pip_fetches_the_pinned_uv_and_makes_the_venv_with_it(tmp_path: Path) -> None:
    box = Sandbox(tmp_path, hide=("ensurepip",))  # ensurepip is not even needed
    result = box.run("venv", "venv", "requirements.txt")
    assert result.returncode == 0, result.stderr
    assert (result.stdout, result.stderr.splitlines()) == (
        "",
        [
            f"[t] fetching uv {UV_VERSION} (the installer; hash-checked, tools/uv.txt)…",
            f"[t] creating venv (Python {PYTHON_VERSION}) with uv…",
            f"[t] installing {RUNTIME_COUNT} locked packages (requirements.txt) with uv…",
        ],
    )
    assert (box.project / "build" / "tools" / f"uv-{UV_VERSION}" / "bin" / "uv").is_file()
    assert box.calls() == [f"uv venv --quiet --clear --seed --python {sys.executable} venv", INSTALL]


def test_a_uv_whose_hash_is_not_the_locked_one_is_refused(tmp_path: Path) -> None:
    box = Sandbox(tmp_path, hide=("ensurepip",))
    lock = box.project / "tools" / "uv.txt"
    lock.write_text(re.sub(r"sha256:\w+", "sha256:" + "0" * 64, lock.read_text()))
    result = box.run("venv", "venv", "requirements.txt")
    assert result.returncode == 1 and box.calls() == []
    assert "no uv could be had" in result.stderr
    assert "DO NOT MATCH THE HASHES" in (box.project / "build" / "logs" / "uv-bootstrap.log").read_text()


def test_debian_python_without_pip_or_ensurepip_gets_its_venv_package(box: Sandbox) -> None:
    result = box.run("venv", "venv", "requirements.txt", FAKE_DEBIAN_PYTHON="1")
    assert result.returncode == 0, result.stderr
    assert (result.stdout, result.stderr.splitlines()) == (
        "",
        [
            f"[t] {box.fake_dir / 'python3'} has no ensurepip: Debian: installing python{SHORT}-venv…",
            f"[t] creating venv (Python {PYTHON_VERSION})…",
            f"[t] fetching uv {UV_VERSION} (the installer; hash-checked, tools/uv.txt)…",  # with the venv's pip
            f"[t] installing {RUNTIME_COUNT} locked packages (requirements.txt) with uv…",
        ],
    )
    assert (box.project / "venv" / "bin" / "pip").exists()  # the real ensurepip ran once "installed"
    assert box.calls() == [
        "apt-get update -q",  # the package lists knew no python3.X-venv yet
        f"apt-get install -y -q --no-install-recommends python{SHORT}-venv",
        INSTALL,
    ]


def test_elsewhere_a_uv_on_path_makes_the_venv_and_installs(box: Sandbox) -> None:
    fake(box.fake_dir / "bin" / "uv", UV_FAKE)
    result = box.run("venv", "venv", "requirements.txt", "requirements-dev.txt")
    assert result.returncode == 0, result.stderr
    uv = box.fake_dir / "bin" / "uv"
    assert f"has no ensurepip (Debian: python{SHORT}-venv): creating venv with {uv}…" in result.stderr
    count = len(read_lock(RUNTIME).keys() | read_lock(DEV).keys())
    assert f"installing {count} locked packages (requirements.txt requirements-dev.txt) with uv…" in result.stderr
    venv_call, install_call = box.calls()
    assert venv_call == f"uv venv --quiet --seed --python {sys.executable} venv"
    assert install_call.endswith("-r requirements.txt -r requirements-dev.txt --require-hashes")


def test_without_pip_ensurepip_or_uv_the_message_says_what_to_install(box: Sandbox) -> None:
    result = box.run("venv", "venv", "requirements.txt")
    assert result.returncode == 1
    assert "has no ensurepip, and no uv could be had" in result.stderr
    assert f"On Debian/Ubuntu: sudo apt-get install python{SHORT}-venv" in result.stderr
    assert not (box.project / "venv").exists() and box.calls() == []


def test_missing_debian_packages_install_with_one_line_and_installed_ones_with_none(box: Sandbox) -> None:
    first = box.run("debian", "graphviz", "shellcheck")
    assert (first.returncode, first.stderr, first.stdout) == (0, "[t] Debian: installing graphviz shellcheck…\n", "")
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
    env = box.env(PYTHON=sys.executable, FAKE_SLOW="1")
    runs = [subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) for _ in range(2)]
    assert [run.wait(timeout=120) for run in runs] == [0, 0]
    installs = [c.split()[1] for c in box.calls() if c.startswith("uv pip") or c == "uv done"]
    assert installs == ["pip", "done", "pip", "done"]  # never two installs at once
