"""What one measured process of benchmarks/plan_speed.py runs: the floor (the SDK imports alone) or one
evaluation of the program, printing its own split as one JSON line.

    venv/bin/python -m benchmarks.plan_speed_child --floor-child MODULES
    venv/bin/python -m benchmarks.plan_speed_child --child AGENTS COPIES [--modules-in F] [--modules-out F]
                                                   [--profile-out F]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

PROJECT_DIR = Path(__file__).resolve().parents[1]


def _loaded_third_party(module: Any) -> bool:
    """A third-party module that was executed (not a lazy-import proxy nobody touched)."""
    if type(module).__name__ == "_LazyModule":  # importlib.util.LazyLoader: asking for __file__ would load it
        return False
    path = getattr(module, "__file__", None) or ""
    return "site-packages" in path or "dist-packages" in path


def import_modules(names: list[str]) -> int:
    """Imports `names` in order like the program did; returns how many could not be imported on their own."""
    import importlib

    failed = 0
    for name in names:
        # A package the SDK imports lazily (importlib.util.LazyLoader) sits in sys.modules unexecuted; the
        # program ran it (it is on the list): run it now, before anything sets attributes on it.
        for known in (sys.modules.get(name.rpartition(".")[0]), sys.modules.get(name)):
            if known is not None and type(known).__name__ == "_LazyModule":
                getattr(known, "_loaded_by_plan_speed", None)  # any attribute but __name__, __spec__, …
        if name not in sys.modules:
            try:
                importlib.import_module(name)
            except Exception:
                failed += 1
    return failed


def child_floor(modules_in: str) -> dict[str, Any]:
    started = time.perf_counter()
    failed = import_modules(json.loads(Path(modules_in).read_text()))
    return {"import": time.perf_counter() - started, "failed": failed}


def child_eval(
    agents: int, copies: int, modules_in: str | None, modules_out: str | None, profile_out: str | None
) -> dict[str, Any]:
    """One evaluation in this fresh process: first the floor's SDK modules (when given), then the program."""
    started = time.perf_counter()
    import_modules(json.loads(Path(modules_in).read_text()) if modules_in else [])
    sdk_imported = time.perf_counter()
    from offline.harness import run_program
    from offline.records import Plan

    def plan_of() -> Plan:
        if agents or copies:
            from benchmarks.synthetic import overrides, program

            return run_program("prod", overrides(agents), program=program(copies))
        return run_program("prod")

    if profile_out:
        plan, _ = _profiled(plan_of, profile_out)
    else:
        plan = plan_of()
    evaluated = time.perf_counter()
    if modules_out:
        names = [n for n, m in list(sys.modules.items()) if _loaded_third_party(m)]
        Path(modules_out).write_text(json.dumps(names))
    return {"sdk": sdk_imported - started, "eval": evaluated - sdk_imported, "resources": len(plan.registrations)}


def _profiled(plan_of: Any, out: str) -> tuple[Any, float]:
    """cProfile of the main thread and of every executor thread (the mock monitor serves RPCs there)."""
    import asyncio
    import cProfile
    import pstats

    thread_profiles: list[cProfile.Profile] = []
    original = asyncio.BaseEventLoop.run_in_executor

    def run_in_executor(self: Any, executor: Any, func: Any, *args: Any) -> Any:
        def profiled(*a: Any) -> Any:
            profile = cProfile.Profile()
            thread_profiles.append(profile)
            profile.enable()
            try:
                return func(*a)
            finally:
                profile.disable()

        return original(self, executor, profiled, *args)

    main = cProfile.Profile()
    asyncio.BaseEventLoop.run_in_executor = run_in_executor  # type: ignore[method-assign,assignment]
    started = time.perf_counter()
    main.enable()
    try:
        plan = plan_of()
    finally:
        main.disable()
        asyncio.BaseEventLoop.run_in_executor = original  # type: ignore[method-assign]
    seconds = time.perf_counter() - started
    stats = pstats.Stats(main)
    for profile in thread_profiles:
        stats.add(profile)
    stats.dump_stats(out)
    return plan, seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.plan_speed_child", description=__doc__.split("\n\n")[0])
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--child", nargs=2, type=int, metavar=("AGENTS", "COPIES"))
    mode.add_argument("--floor-child", metavar="MODULES")
    parser.add_argument("--modules-in")
    parser.add_argument("--modules-out")
    parser.add_argument("--profile-out")
    args = parser.parse_args(argv)
    if args.floor_child:
        print(json.dumps(child_floor(args.floor_child)))
        return 0
    sys.path.insert(0, str(PROJECT_DIR))
    agents, copies = args.child
    print(json.dumps(child_eval(agents, copies, args.modules_in, args.modules_out, args.profile_out)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
