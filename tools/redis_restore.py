"""Prints the one-off Job that restores Redis from its newest (or a named) off-site snapshot.

    venv/bin/python -m tools.redis_restore [--stack prod] [--snapshot redis-<time>.rdb] [--force] > job.yaml

The values come from Pulumi.<stack>.yaml (none is secret; the Job reads the bucket key from the Secret
the backup job uses). docs/runbook.md has the whole procedure.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from components.config.load import load_stack_config
from components.config.reader import NAMESPACE, ConfigError
from components.k8s.apps import apps_spec
from components.k8s.redis_backup import backup_spec, restore_job
from components.yaml_text import dump_quoted
from offline.stack_config import provider_environment, stack_config


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.redis_restore", description=__doc__.split("\n\n")[0])
    parser.add_argument("--stack", default="prod")
    parser.add_argument("--snapshot", default="", help="a name from `rclone lsf` (default: the newest)")
    parser.add_argument("--force", action="store_true", help="replace an existing AOF on the volume")
    args = parser.parse_args(argv)
    # Secrets get placeholders: nothing here reads them, and the Job takes the bucket key from its Secret.
    raw, secret_keys = stack_config(args.stack, None)
    prefix = NAMESPACE + ":"
    try:
        config = load_stack_config(
            {k.removeprefix(prefix): v for k, v in raw.items()},
            secret_keys={k.removeprefix(prefix) for k in secret_keys},
            stack=args.stack,
            # The providers' tokens are placeholders too: this tool calls no provider.
            environ={k: v for k, v in provider_environment().items() if v},
        )
    except ConfigError as error:
        print(error, file=sys.stderr)
        return 2
    backup = backup_spec(config)
    if backup is None:
        print("redis_restore: etcdS3Bucket is empty, so there are no off-site Redis snapshots", file=sys.stderr)
        return 2
    spec = apps_spec(
        config.apps,
        config.services,
        cluster_cidr=config.k3s.cluster_cidr,
        node_cidrs=(config.nodes.private_network_cidr,),
        tls_secret_name=None,
    )
    job = restore_job(spec, backup, snapshot=args.snapshot, force=args.force)
    sys.stdout.write(dump_quoted(job, sort_keys=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
