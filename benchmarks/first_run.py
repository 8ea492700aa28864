"""A newcomer's first `make plan` and `make test`: fresh clone, empty package caches (issue 15, item 6).

Prints figures; not a test. Clones the committed HEAD of --repo (default: this checkout) into a new
directory, points every package cache (uv, pip, XDG) at a new empty directory, then runs `make plan`
and, unless --plan-only, `make test` there, timing each command from start to exit, each phase between
the lines the Makefile prints ("[plan] ..."), and the CPU time of make and all it started (user +
system; other work on the machine moves it far less than the wall time). It also prints the conditions
that move the figures: cores and load, the Python, which Debian packages were installed before, and
pip's configured extra indexes (pip fetches uv; uv itself reads no pip configuration and downloads the
locked packages from PyPI).

Needs only the standard library: run it with the system Python, not with a venv of the checkout.

    python3 benchmarks/first_run.py [--repo .] [--dest /tmp/fr-clone] [--plan-only] [--keep]
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parents[1]
TARGETS = {"plan": 30.0, "test": 180.0}  # seconds, on the 2-core machine of issue 15
PHASE = re.compile(r"^\[(\w+)\] ")


@dataclass
class Run:
    """One make command: its wall time, phase lines with their start offsets, and its exit code."""

    goal: str
    seconds: float = 0.0
    cpu: float = 0.0
    code: int = 0
    phases: list[tuple[float, str]] = field(default_factory=list)
    tail: list[str] = field(default_factory=list)


def run_make(goal: str, clone: Path, env: dict[str, str], echo: bool) -> Run:
    run = Run(goal)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    proc = subprocess.Popen(["make", goal], cwd=clone, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, bufsize=1)  # fmt: skip
    assert proc.stdout is not None
    for line in proc.stdout:
        offset = time.perf_counter() - started
        if echo:
            print(f"  {offset:6.1f}s | {line.rstrip()}", flush=True)
        if PHASE.match(line):
            run.phases.append((offset, line.strip()))
        run.tail = [*run.tail[-14:], line.rstrip()]
    run.code = proc.wait()
    run.seconds = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    run.cpu = (after.ru_utime - children.ru_utime) + (after.ru_stime - children.ru_stime)
    return run


def debian_state(makefile: str) -> dict[str, bool]:
    match = re.search(r"^TEST_APT_PACKAGES := \$\(PLAN_APT_PACKAGES\) (.+)$", makefile, re.M)
    plan = re.search(r"^PLAN_APT_PACKAGES := (.+)$", makefile, re.M)
    names = (plan[1].split() if plan else []) + (match[1].split() if match else [])
    state = {}
    for name in names:
        probe = subprocess.run(["dpkg-query", "-W", "-f=${Status}", name], capture_output=True, text=True)
        state[name] = probe.returncode == 0 and "install ok installed" in probe.stdout
    return state


def pip_indexes() -> str:
    probe = subprocess.run([sys.executable, "-m", "pip", "config", "list"], capture_output=True, text=True)
    lines = [line for line in probe.stdout.splitlines() if "index-url" in line or "find-links" in line]
    return "; ".join(lines) or "PyPI only"


def report(runs: list[Run], conditions: dict[str, str]) -> bool:
    print("\nConditions")
    for key, value in conditions.items():
        print(f"  {key:<28} {value}")
    ok = True
    for run in runs:
        target = TARGETS.get(run.goal)
        met = target is None or run.seconds <= target
        verdict = "" if target is None else f"  (target ≤ {target:.0f} s: {'met' if met else 'MISSED'})"
        ok &= run.code == 0 and met
        print(f"\nmake {run.goal}: {run.seconds:.1f} s wall, {run.cpu:.1f} s CPU, exit {run.code}{verdict}")
        ends = [offset for offset, _ in run.phases[1:]] + [run.seconds]
        for (offset, line), end in zip(run.phases, ends, strict=True):
            print(f"  {end - offset:6.1f} s  {line}")
        if run.code:
            print("  last lines:\n    " + "\n    ".join(run.tail))
    return ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repo", default=str(PROJECT_DIR), help="repository to clone (its HEAD)")
    parser.add_argument("--dest", help="clone here (must not exist); default: a new temporary directory")
    parser.add_argument("--plan-only", action="store_true", help="skip `make test`")
    parser.add_argument("--keep", action="store_true", help="keep the clone and the caches")
    parser.add_argument("--quiet", action="store_true", help="do not echo make's output")
    args = parser.parse_args(argv)

    work = Path(tempfile.mkdtemp(prefix="hd-first-run-"))
    clone = Path(args.dest) if args.dest else work / "clone"
    cache = work / "cache"
    cache.mkdir()
    subprocess.run(["git", "clone", "--quiet", "--no-hardlinks", args.repo, str(clone)], check=True)
    head = subprocess.run(["git", "log", "-1", "--format=%h %s"], cwd=clone, capture_output=True, text=True).stdout
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONHOME")}
    env |= {"UV_CACHE_DIR": str(cache / "uv"), "PIP_CACHE_DIR": str(cache / "pip"), "XDG_CACHE_HOME": str(cache)}
    if "VIRTUAL_ENV" in os.environ:  # a venv's bin first on PATH would hand make its python3
        venv_bin = str(Path(os.environ["VIRTUAL_ENV"]) / "bin")
        env["PATH"] = os.pathsep.join(p for p in env["PATH"].split(os.pathsep) if p != venv_bin)

    python = shutil.which("python3", path=env["PATH"]) or "python3"
    version = subprocess.run([python, "--version"], capture_output=True, text=True).stdout.strip()
    debian = debian_state((clone / "Makefile").read_text())
    load_before = os.getloadavg()
    runs = []
    for goal in ("plan",) if args.plan_only else ("plan", "test"):
        print(f"make {goal} in {clone}", flush=True)
        runs.append(run_make(goal, clone, env, echo=not args.quiet))
        if runs[-1].code:
            break
    load_after = os.getloadavg()
    conditions = {
        "commit": head.strip(),
        "machine": f"{os.cpu_count()} cores, {platform.machine()}, {platform.platform(terse=True)}",
        "load average (1 min)": f"{load_before[0]:.2f} before, {load_after[0]:.2f} after",
        "python3": f"{python} ({version})",
        "package caches": f"empty: UV_CACHE_DIR, PIP_CACHE_DIR, XDG_CACHE_HOME under {cache}",
        "pip configuration": pip_indexes(),
        "Debian packages before": ", ".join(f"{n} {'yes' if v else 'NO'}" for n, v in debian.items()),
    }
    ok = report(runs, conditions)
    if args.keep:
        print(f"\nkept: {clone}, caches in {cache}")
    else:
        shutil.rmtree(work, ignore_errors=True)
        if args.dest:
            shutil.rmtree(clone, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
