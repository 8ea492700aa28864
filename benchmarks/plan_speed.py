"""How long `make plan` takes against its floor: importing the SDKs the program needs and nothing else.

Prints a table (median of --runs fresh processes each); not a test. Target (issue 2): ratio < 2.
    venv/bin/python benchmarks/plan_speed.py [--runs 5]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parents[1]
SDKS = "import pulumi, pulumi_hcloud, pulumi_cloudflare, pulumi_command, pulumi_tls, pulumi_random, yaml"


def timed(argv: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(argv, check=True, cwd=PROJECT_DIR, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as out:
        commands = {
            "import the SDKs (floor)": [sys.executable, "-c", SDKS],
            "make plan (evaluate + write + graphviz)": [sys.executable, "-m", "offline", "--out", out],
        }
        medians = {name: statistics.median(timed(argv) for _ in range(args.runs)) for name, argv in commands.items()}
    floor = medians["import the SDKs (floor)"]
    print(f"{'step':<42} {'median s':>9} {'× floor':>8}")
    for name, seconds in medians.items():
        print(f"{name:<42} {seconds:>9.2f} {seconds / floor:>8.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
