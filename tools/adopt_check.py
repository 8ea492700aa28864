"""`make adopt-check LIVE=dir/`: where the program's inputs differ from the live production, before any import.

The program is evaluated offline as the stack config says (tools' harness, adopt mode as configured); its
registered inputs are compared with the exported JSON of the live resources (tools/live.py). Each finding
says what the first `up` would do about it:

- MUST MATCH: the import would show a difference (an update, or a replace) of a field the program sets;
  fix the config (or the live resource) first.
- HELD: differs, but held by ignore_changes while adopting (components/adoption.py); after adoptIds is
  cleared it shows as an in-place update.
- IGNORED: differs, held by ignore_changes for good (a server's type, image, location).
- MISSING: nothing live matches: the resource would be created, not imported.
- UNMANAGED: live, in the program's scope, but not the program's: left as it is.
- K8S IMMUTABLE: a live Kubernetes object the take-over (upsert) would have to change where the API forbids it.
- UPDATED: a live Kubernetes object the take-over changes (its images): a rollout in the first `up`.

It also prints the `adoptIds` entries of everything it matched. Exit 1 when a MUST MATCH, MISSING server,
network or subnet, or K8S IMMUTABLE finding is present, else 0.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from components.config.reader import ConfigError
from offline.harness import run_program
from offline.records import Plan
from offline.stack_config import StackFileError
from tools.adopt_check_cloudflare import cloudflare_findings
from tools.adopt_check_hetzner import HetznerCheck
from tools.adopt_check_k8s import kubernetes_findings
from tools.adopt_findings import Finding, Report
from tools.live import Live, load_live


def check(plan: Plan, live: Live, zone_id: str | None = None) -> Report:
    """Every finding of the program `plan` against `live`, and the adoptIds entries of what matched."""
    report = Report([], {})
    HetznerCheck(plan, live, report).run()
    zone = zone_id or next((r.get("zone_id") for r in live.dns_records if r.get("zone_id")), None) or "<zone id>"
    cloudflare_findings(plan, live, report, zone)
    report.findings += [Finding(*f) for f in kubernetes_findings(plan, live.kubernetes)]
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("live", type=Path, help="directory of exported JSON (tools/live.py lists the files)")
    parser.add_argument("--stack", default="prod")
    parser.add_argument("--zone-id", help="Cloudflare zone id for the adoptIds entries (default: from the records)")
    args = parser.parse_args(argv)
    try:
        live = load_live(args.live)
    except (ValueError, OSError) as error:
        print(f"adopt-check: {error}", file=sys.stderr)
        return 2
    # The token's value is irrelevant here; set, an adoption of servers in the stack file passes the config check.
    try:
        plan = run_program(args.stack, {"k3sToken": "PLACEHOLDER-k3sToken"})
    except (ConfigError, StackFileError) as error:  # the stack's config as the program checks it, or its file
        print(f"adopt-check: {error}", file=sys.stderr)
        return 2
    report = check(plan, live, args.zone_id)
    for finding in report.findings:
        print(finding.line())
    print("\nadoptIds entries of what matched:")
    for name, import_id in sorted(report.adopt_ids.items()):
        print(f"  {name}={import_id}")
    print("\nadopt-check: " + ("no blocking difference" if report.ok else "blocking differences above"))
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
