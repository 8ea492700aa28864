"""How fast the offline plan's engine evaluates the program, against its floor, and how it grows (issue 8).

Prints tables; not a test. Every number is the median of --runs fresh processes per row, the rows
interleaved round by round so that drift of the machine hits them alike, after one unmeasured warm-up
round. A process (benchmarks/plan_speed_child.py) is timed from its start to its exit (wall), and reports
its own split.

* floor: a process that imports the third-party modules the prod evaluation loads (the Pulumi SDKs,
  the provider SDKs and what they pull in, PyYAML, protobuf, grpc, ...) and nothing else. The list is
  taken from a prod evaluation at the start of the run, so it follows the program.
* prod: a process that evaluates `__main__.py` for prod under the mock engine (`run_program`, what
  `make plan` runs before it writes files), nothing written.
* synthetic: the same with more agents and workloads through the same components (benchmarks/synthetic.py
  says how: agents through agentCount, workloads copies of api/admin/worker).

Python writes no bytecode here when PYTHONDONTWRITEBYTECODE is set, which would make every process
compile the project's sources again; by default the children cache bytecode under a temporary
PYTHONPYCACHEPREFIX (as a developer's or CI's Python does in __pycache__); --no-bytecode-cache keeps the
environment as it is.

    venv/bin/python -m benchmarks.plan_speed [--runs 7] [--profile]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PROJECT_DIR = Path(__file__).resolve().parents[1]
MODULE = "benchmarks.plan_speed"
CHILD_MODULE = "benchmarks.plan_speed_child"
# (label, agents, app copies of 3 workloads): prod and two synthetic sizes for the growth fit.
SIZES = [("prod", 0, 0), ("+25 agents, +15 workloads", 25, 5), ("+50 agents, +30 workloads", 50, 10)]
TARGET_FLOOR_RATIO = 1.3
TARGET_LARGE_RATIO = 1.5
# Growth counts as linear when the marginal cost per resource of the upper half of the sizes is at most
# this much above that of the lower half.
LINEAR_TOLERANCE = 1.25


# ------------------------------------------------------------------------------------------ parent


@dataclass
class Sample:
    wall: float
    report: dict[str, Any]


def _env(cache_dir: str | None) -> dict[str, str]:
    env = dict(os.environ)
    if cache_dir is not None:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = cache_dir
    return env


def _run(argv: list[str], env: dict[str, str]) -> Sample:
    started = time.perf_counter()
    result = subprocess.run(argv, cwd=PROJECT_DIR, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed:\n{result.stderr[-3000:]}")
    return Sample(wall, json.loads(result.stdout.strip().splitlines()[-1]))


def _eval_argv(agents: int, copies: int, *extra: str) -> list[str]:
    return [sys.executable, "-m", CHILD_MODULE, "--child", str(agents), str(copies), *extra]


def _median(samples: list[Sample], key: str | None = None) -> float:
    return statistics.median(s.wall if key is None else float(s.report[key]) for s in samples)


def _fit(xs: list[float], ys: list[float]) -> tuple[float, float, float]:
    """Least squares y = a + b·x and R²."""
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    b = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx
    a = my - b * mx
    ss_res = sum((y - a - b * x) ** 2 for x, y in zip(xs, ys, strict=True))
    ss_tot = sum((y - my) ** 2 for y in ys)
    return a, b, 1 - ss_res / ss_tot if ss_tot else 1.0


def _verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def measure(runs: int, env: dict[str, str], modules_file: str) -> dict[str, list[Sample]]:
    commands = {"floor": [sys.executable, "-m", CHILD_MODULE, "--floor-child", modules_file]}
    commands |= {label: _eval_argv(agents, copies, "--modules-in", modules_file) for label, agents, copies in SIZES}
    samples: dict[str, list[Sample]] = {name: [] for name in commands}
    names = list(commands)
    for name in names:  # warm-up: page cache and bytecode
        _run(commands[name], env)
    for round_ in range(runs):
        shift = round_ % len(names)
        for name in names[shift:] + names[:shift]:
            samples[name].append(_run(commands[name], env))
    return samples


@dataclass(frozen=True)
class Row:
    resources: int
    wall: float
    """Median wall time of the process."""
    sdk: float
    """Median time the process took to import the floor's modules."""
    eval: float
    """Median time of run_program after that: the program's own cost."""

    @property
    def per_resource(self) -> float:
        return self.eval / self.resources


def report(samples: dict[str, list[Sample]], modules: int, failed: int, runs: int, cached: bool) -> bool:
    floor = _median(samples["floor"])
    rows = {
        label: Row(
            int(samples[label][0].report["resources"]),
            _median(samples[label]),
            _median(samples[label], "sdk"),
            _median(samples[label], "eval"),
        )
        for label, _, _ in SIZES
    }
    print(f"Offline plan evaluation (run_program, nothing written): median of {runs} fresh processes per row")
    print(f"bytecode: {'cached' if cached else 'as the environment says'}; python {sys.version.split()[0]}; "
          f"{os.cpu_count()} CPUs\n")  # fmt: skip
    head = (f"{'process':<36} {'resources':>9} {'wall s':>7} {'× floor':>8} {'SDK import s':>12} {'evaluate s':>10} "
            f"{'ms/resource':>11}")  # fmt: skip
    print(head)
    print("-" * len(head))
    floor_sdk = _median(samples["floor"], "import")
    print(f"{f'floor: import {modules} SDK modules':<36} {'-':>9} {floor:>7.2f} {1:>8.2f} {floor_sdk:>12.2f} "
          f"{'-':>10} {'-':>11}")  # fmt: skip
    for label, row in rows.items():
        name = label if label == "prod" else f"synthetic {label}"
        print(f"{name:<36} {row.resources:>9} {row.wall:>7.2f} {row.wall / floor:>8.2f} {row.sdk:>12.2f} "
              f"{row.eval:>10.2f} {1000 * row.per_resource:>11.2f}")  # fmt: skip
    if failed:
        print(f"({failed} of the floor's modules could not be imported on their own and were skipped)")
    from benchmarks.synthetic import describe_agents

    print("\nwall: process start to exit. Each evaluating process first imports the floor's modules (SDK")
    print("import s), then runs run_program (evaluate s: the program's own cost; ms/resource = evaluate ÷")
    print(f"resources). Synthetic stacks: {describe_agents()}; workloads as copies of")
    print("api/admin/worker through the same builders and phases (benchmarks/synthetic.py).")
    return _targets(rows, floor)


def _targets(rows: dict[str, Row], floor: float) -> bool:
    prod, mid, big = (rows[label] for label, _, _ in SIZES)
    low = (mid.eval - prod.eval) / (mid.resources - prod.resources)
    high = (big.eval - mid.eval) / (big.resources - mid.resources)
    a, b, r2 = _fit([r.resources for r in (prod, mid, big)], [r.eval for r in (prod, mid, big)])
    per = big.per_resource / prod.per_resource
    checks = [
        (f"prod ÷ floor, wall ≤ {TARGET_FLOOR_RATIO}×", prod.wall / floor, prod.wall / floor <= TARGET_FLOOR_RATIO),
        (f"large ÷ prod, time per resource ≤ {TARGET_LARGE_RATIO}×", per, per <= TARGET_LARGE_RATIO),
        (f"large ÷ prod, whole evaluation (wall) ≤ {TARGET_LARGE_RATIO}×", big.wall / prod.wall,
         big.wall / prod.wall <= TARGET_LARGE_RATIO),
        (f"growth linear: marginal cost upper ÷ lower half ≤ {LINEAR_TOLERANCE}", high / low,
         high / low <= LINEAR_TOLERANCE and r2 >= 0.99),
    ]  # fmt: skip
    print("\nTargets (issue 8)")
    for text, value, ok in checks:
        print(f"  {text:<60} {value:6.2f}   {_verdict(ok)}")
    print(f"  fit: evaluate = {a:.2f} s + {1000 * b:.2f} ms × resources (R² {r2:.4f}); marginal "
          f"{1000 * low:.2f} ms/resource up to {mid.resources}, {1000 * high:.2f} up to {big.resources}")  # fmt: skip
    return all(ok for _, _, ok in checks)


# ----------------------------------------------------------------------------------------- profile


def _package(path: str) -> str:
    marker = "site-packages/"
    if marker in path:
        return path.split(marker, 1)[1].split("/", 1)[0].removesuffix(".py")
    if path.startswith(str(PROJECT_DIR)):
        return "project: " + Path(path).relative_to(PROJECT_DIR).parts[0]
    if path == "~":
        return "builtins (C functions)"
    if path.startswith("<"):
        return "import machinery"
    return "stdlib: " + Path(path).parts[-2 if Path(path).name == "__init__.py" else -1].removesuffix(".py")


def profile(env: dict[str, str], modules_file: str, agents: int, copies: int, top: int = 18) -> None:
    import pstats

    with tempfile.TemporaryDirectory() as tmp:
        out = str(Path(tmp) / "eval.prof")
        sample = _run(_eval_argv(agents, copies, "--profile-out", out, "--modules-in", modules_file), env)
        stats = pstats.Stats(out)
    raw: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    by_package: dict[str, float] = {}
    for (path, _, _), (_, _, tottime, _, _) in raw.items():
        by_package[_package(path)] = by_package.get(_package(path), 0.0) + tottime
    total = sum(by_package.values())
    resources = sample.report["resources"]
    print(f"\nProfile of run_program for the largest synthetic stack ({resources} resources, SDKs imported first),")
    wall = sample.report["eval"]
    print(f"cProfile over the main thread and every executor thread: {total:.2f} s of own time "
          f"({1000 * total / resources:.1f} ms/resource); evaluate took {wall:.2f} s wall")  # fmt: skip
    print(f"\n  {'own time by package':<44} {'s':>6} {'share':>6}")
    for package, seconds in sorted(by_package.items(), key=lambda kv: -kv[1])[:12]:
        print(f"  {package:<44} {seconds:>6.2f} {seconds / total:>6.0%}")
    print(f"\n  {'functions by own time':<72} {'calls':>8} {'own s':>6} {'cum s':>6}")
    ranked = sorted(raw.items(), key=lambda kv: -kv[1][2])[:top]
    for (path, line, name), (_, calls, tottime, cumtime, _) in ranked:
        where = f"{_package(path)}:{Path(path).name}:{line} {name}"
        print(f"  {where[:72]:<72} {calls:>8} {tottime:>6.2f} {cumtime:>6.2f}")
    print(f"\n  {'components/ functions by cumulative time (main thread)':<72} {'calls':>8} {'own s':>6} {'cum s':>6}")
    ours = [kv for kv in raw.items() if kv[0][0].startswith(str(PROJECT_DIR / "components"))]
    for (path, line, name), (_, calls, tottime, cumtime, _) in sorted(ours, key=lambda kv: -kv[1][3])[:10]:
        where = f"{Path(path).name}:{line} {name}"
        print(f"  {where[:72]:<72} {calls:>8} {tottime:>6.2f} {cumtime:>6.2f}")


# -------------------------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=f"python -m {MODULE}", description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--no-bytecode-cache", action="store_true")
    parser.add_argument("--profile", action="store_true", help="also profile the largest size")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        env = _env(None if args.no_bytecode_cache else str(Path(tmp) / "pycache"))
        modules_file = str(Path(tmp) / "modules.json")
        _run(_eval_argv(0, 0, "--modules-out", modules_file), env)
        modules = len(json.loads(Path(modules_file).read_text()))
        samples = measure(args.runs, env, modules_file)
        failed = max(int(s.report.get("failed", 0)) for s in samples["floor"])
        met = report(samples, modules, failed, args.runs, cached=not args.no_bytecode_cache)
        if args.profile:
            profile(env, modules_file, *SIZES[-1][1:])
    print("\nall targets met" if met else "\nsome targets MISSED (see above)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
