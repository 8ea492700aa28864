"""`make status`: what expires and what has gone stale, in one screen.

- the Origin CA certificate Traefik serves (full/strict): its notAfter, read from the TLS Secret;
- the newest off-site etcd snapshot: K3s records each as an ETCDSnapshotFile (k3s.cattle.io/v1; spec.s3
  set for S3 copies, status.creationTime when etcd took it: k3s pkg/apis/k3s.cattle.io/v1/types.go);
- the newest Redis snapshot: the backup CronJob's status.lastSuccessfulTime;
- the Pulumi credential: the kubeconfig's client certificate (K3s admin certificates last 365 days);
  a token-based kubeconfig carries no expiry and is reported as such.

Exit 1 when anything is expired or past its limit, 2 when the checks cannot run.
"""

from __future__ import annotations

import argparse
import base64
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import yaml

from tools.ops import Kubectl, OpsError, kubeconfig_file, load_outputs

TLS_SECRET = "honeydue-origin-tls"
BACKUP_CRONJOB = "redis-backup"


@dataclass(frozen=True)
class Line:
    level: str
    """OK, WARN or FAIL."""
    what: str
    detail: str


def certificate_not_after(pem: str) -> datetime:
    """notAfter of a PEM certificate, with openssl (no Python crypto package needed)."""
    run = subprocess.run(
        ["openssl", "x509", "-noout", "-enddate"], input=pem, capture_output=True, text=True, timeout=10, check=False
    )
    if run.returncode != 0 or not run.stdout.startswith("notAfter="):
        raise OpsError(f"not a PEM certificate: {run.stderr.strip()}")
    return datetime.strptime(run.stdout.strip().removeprefix("notAfter="), "%b %d %H:%M:%S %Y %Z").replace(tzinfo=UTC)


def expiry_line(what: str, not_after: datetime, now: datetime, warn_days: int, fail_days: int) -> Line:
    left = not_after - now
    level = "FAIL" if left < timedelta(days=fail_days) else "WARN" if left < timedelta(days=warn_days) else "OK"
    state = "expired" if left.total_seconds() < 0 else f"{left.days} days left"
    return Line(level, what, f"notAfter {not_after:%Y-%m-%d %H:%M} UTC ({state})")


def age_line(what: str, newest: datetime | None, now: datetime, limit: timedelta, source: str) -> Line:
    if newest is None:
        return Line("FAIL", what, f"none found ({source})")
    age = now - newest
    hours = age.total_seconds() / 3600
    level = "FAIL" if age > limit else "OK"
    return Line(
        level, what, f"{newest:%Y-%m-%d %H:%M} UTC, {hours:.1f} h old (limit {limit.total_seconds() / 3600:.0f} h)"
    )


def _time(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text.replace("Z", "+00:00")) if text else None


def newest_offsite_snapshot(files: Sequence[dict[str, Any]]) -> datetime | None:
    """creationTime of the newest ready ETCDSnapshotFile stored in S3."""
    times = [
        _time(f.get("status", {}).get("creationTime") or f["metadata"].get("creationTimestamp"))
        for f in files
        if f.get("spec", {}).get("s3") and f.get("status", {}).get("readyToUse", True)
    ]
    return max((t for t in times if t is not None), default=None)


def credential_line(kubeconfig_text: str, now: datetime) -> Line:
    config = yaml.safe_load(kubeconfig_text) or {}
    users = config.get("users") or []
    user = (users[0].get("user") or {}) if users else {}
    if user.get("client-certificate-data"):
        pem = base64.b64decode(user["client-certificate-data"]).decode()
        return expiry_line("Pulumi credential (kubeconfig client certificate)", certificate_not_after(pem), now, 30, 7)
    if user.get("token"):
        return Line(
            "OK", "Pulumi credential (kubeconfig token)", "a bearer token: no expiry recorded in the kubeconfig"
        )
    return Line("WARN", "Pulumi credential", "the kubeconfig has neither a client certificate nor a token")


def collect(
    kubectl: Kubectl, kubeconfig_text: str, namespace: str, now: datetime, args: argparse.Namespace
) -> list[Line]:
    lines = []
    crt = kubectl.text(
        ["-n", namespace, "get", "secret", TLS_SECRET, "--ignore-not-found", "-o", r"jsonpath={.data.tls\.crt}"]
    )
    if crt.strip():
        not_after = certificate_not_after(base64.b64decode(crt).decode())
        lines.append(expiry_line("Origin CA certificate", not_after, now, 60, 14))
    else:
        lines.append(Line("OK", "Origin CA certificate", f"not in use (no Secret {TLS_SECRET}: sslMode flexible)"))
    snapshots = kubectl.json(["get", "etcdsnapshotfiles.k3s.cattle.io"])["items"]
    lines.append(age_line("newest off-site etcd snapshot", newest_offsite_snapshot(snapshots), now,
                          timedelta(hours=args.etcd_hours), "ETCDSnapshotFile with spec.s3"))  # fmt: skip
    cronjob = kubectl.json(["-n", namespace, "get", "cronjob", BACKUP_CRONJOB])
    lines.append(age_line("newest Redis snapshot (B2)", _time(cronjob.get("status", {}).get("lastSuccessfulTime")),
                          now, timedelta(hours=args.redis_hours), f"CronJob {BACKUP_CRONJOB}"))  # fmt: skip
    lines.append(credential_line(kubeconfig_text, now))
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.status", description=__doc__.split("\n\n")[0])
    parser.add_argument("--stack", default="prod")
    parser.add_argument("--outputs", help="stack outputs JSON (default: `pulumi stack output --json --show-secrets`)")
    parser.add_argument("--kubeconfig", help="default: the stack's kubeconfig output")
    parser.add_argument("--etcd-hours", type=float, default=13, help="limit: two missed 6-hourly snapshots")
    parser.add_argument("--redis-hours", type=float, default=2, help="limit: several missed half-hourly runs")
    args = parser.parse_args(argv)
    now = datetime.now(UTC)
    try:
        outputs = load_outputs(args.outputs, args.stack)
        with kubeconfig_file(outputs, args.kubeconfig) as path:
            with open(path) as file:
                kubeconfig_text = file.read()
            lines = collect(Kubectl(path), kubeconfig_text, outputs.get("appNamespace", "honeydue"), now, args)
    except (OpsError, OSError, KeyError, ValueError) as error:
        print(f"status: cannot run the checks: {error}", file=sys.stderr)
        return 2
    for line in lines:
        print(f"{line.level:<4}  {line.what}: {line.detail}")
    return 1 if any(line.level == "FAIL" for line in lines) else 0


if __name__ == "__main__":
    sys.exit(main())
