"""Fails, with the reason, unless the machine running this is a deployer the nodes let in.

`pulumi preview`/`up`/the drift check reach the nodes over SSH (22) and the Kubernetes API (6443), which
the node firewall opens only to `adminCidrs` and `deployerCidrs` (components/firewall/node_rules.py). A
runner outside them would hang on timeouts deep into an update; CI runs this first on the runner:

    venv/bin/python -m tools.deployer_check --egress <address as the internet sees it> [--egress …]

Every problem is reported at once: no egress address given, an address that is not one, an empty
`deployerCidrs`, an address outside it.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import sys

from offline.stack_config import PROJECT_DIR, stack_config

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def deployer_cidrs(stack: str) -> list[IpNetwork]:
    """`deployerCidrs` of the stack as the program reads it (Pulumi.yaml default, then the stack file)."""
    config, _ = stack_config(stack, project_dir=PROJECT_DIR)
    return [ipaddress.ip_network(c, strict=False) for c in json.loads(config.get("honeydue:deployerCidrs", "[]"))]


def problems(egress: list[str], cidrs: list[IpNetwork], stack: str) -> list[str]:
    found = []
    if not egress:
        found.append("no egress address given: the runner's address as the nodes see it is unknown")
    if not cidrs:
        found.append(
            f"deployerCidrs of stack {stack} is empty: add the deployer runner's egress address "
            f"(`pulumi config set --path 'honeydue:deployerCidrs[0]' <address>/32`, Pulumi.{stack}.yaml)"
        )
    for text in egress:
        try:
            address = ipaddress.ip_address(text.strip())
        except ValueError:
            found.append(f"egress address {text.strip()!r} is not an IP address")
            continue
        if cidrs and not any(address.version == net.version and address in net for net in cidrs):
            listed = ", ".join(str(n) for n in cidrs)
            found.append(
                f"egress address {address} is not inside deployerCidrs ({listed}): the node firewall "
                "drops its SSH and Kubernetes API traffic; run on the deployer runner or add its address"
            )
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.deployer_check", description=__doc__.split("\n\n")[0])
    parser.add_argument("--egress", action="append", default=[], help="an egress address of this runner")
    parser.add_argument("--stack", default="prod")
    args = parser.parse_args(argv)
    egress = [e for e in args.egress if e.strip()]
    found = problems(egress, deployer_cidrs(args.stack), args.stack)
    for problem in found:
        # A GitHub Actions error annotation: the reason shows on the run's summary page.
        print(f"::error title=deployer check::{problem}")
    if not found:
        print(f"deployer check: {', '.join(egress)} inside deployerCidrs of stack {args.stack}")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
