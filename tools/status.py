"""`make status`: what expires and what has gone stale, in one screen.

- the newest etcd snapshot and the newest Redis snapshot in the off-site bucket, listed with rclone and a
  list-only B2 key (tools/status_bucket.py): the bucket, not K3s's ETCDSnapshotFile records or the
  CronJob's lastSuccessfulTime, because a snapshot counts once its copy is there. Each may be as old as
  twice the longest gap between two runs of its schedule (etcdSnapshotSchedule, redisBackupSchedule) plus
  an hour, unless --etcd-hours / --redis-hours say otherwise;
- failed Jobs of the Redis backup CronJob still in its history (WARN: someone should read their logs);
- the Origin CA certificate Traefik serves (full/strict): its notAfter, read from the TLS Secret;
- the Pulumi credential: the kubeconfig's client certificate (K3s admin certificates last 365 days);
  a token-based kubeconfig carries no expiry and is reported as such.

Exit 1 when anything is expired or past its limit, 2 when the checks cannot run. With --verdict FILE the
result is also written as GitHub step outputs, from which .github/workflows/status.yml opens, updates or
closes an issue (`make status` itself exits 2 for both: make's own code for a failed recipe).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import os
import secrets
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import yaml

from components.k8s.redis_backup import NAME as BACKUP_CRONJOB
from components.k8s.spec import selector
from tools.ops import Kubectl, OpsError, kubeconfig_file, load_outputs
from tools.status_bucket import (
    REDIS_SNAPSHOT,
    REMOTE,
    Bucket,
    BucketError,
    Limit,
    Snapshot,
    bucket_settings,
    hours,
    list_folder,
    newest_snapshot,
    rclone_env,
    schedule_limit,
)

TLS_SECRET = "honeydue-origin-tls"
ETCD = "newest off-site etcd snapshot"
REDIS = "newest Redis snapshot (B2)"
VERDICTS = {0: "ok", 1: "stale", 2: "failed"}


@dataclass(frozen=True)
class Line:
    level: str
    """OK, WARN or FAIL."""
    what: str
    detail: str

    def __str__(self) -> str:
        return f"{self.level:<4}  {self.what}: {self.detail}"


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


def age_line(what: str, newest: Snapshot | None, now: datetime, limit: Limit, where: str) -> Line:
    if newest is None:
        return Line("FAIL", what, f"none found in {where}")
    age = now - newest.time
    level = "FAIL" if age > limit.age else "OK"
    detail = f"{newest.name}, {newest.time.astimezone(UTC):%Y-%m-%d %H:%M} UTC, {age.total_seconds() / 3600:.1f} h old"
    return Line(level, what, f"{detail} (limit {hours(limit.age)}: {limit.why})")


def snapshot_lines(bucket: Bucket, env: Mapping[str, str], now: datetime, limits: tuple[Limit, Limit]) -> list[Line]:
    """The newest etcd snapshot (any file of etcdS3Folder) and Redis snapshot (redis-*.rdb of redisBackupFolder);
    a listing that fails is that check's FAIL line."""
    lines = []
    for what, folder, pattern, limit in (
        (ETCD, bucket.etcd_folder, None, limits[0]),
        (REDIS, bucket.redis_folder, REDIS_SNAPSHOT, limits[1]),
    ):
        path = f"{bucket.name}/{folder}"
        try:
            newest = newest_snapshot(list_folder(path, env), pattern)
        except BucketError as error:
            lines.append(Line("FAIL", what, str(error)))
        else:
            lines.append(age_line(what, newest, now, limit, f"{REMOTE}:{path}"))
    return lines


def snapshot_limits(bucket: Bucket, etcd_hours: float | None, redis_hours: float | None) -> tuple[Limit, Limit]:
    """From the schedules, unless --etcd-hours / --redis-hours are given."""

    def limit(given: float | None, schedule: str, flag: str) -> Limit:
        return schedule_limit(schedule) if given is None else Limit(timedelta(hours=given), flag)

    return (
        limit(etcd_hours, bucket.etcd_schedule, "--etcd-hours"),
        limit(redis_hours, bucket.redis_schedule, "--redis-hours"),
    )


def offsite_lines(
    bucket: Bucket | None, environ: Mapping[str, str], now: datetime, limits: tuple[float | None, float | None]
) -> list[Line]:
    """The snapshot lines, or one line when there is no bucket or no key to list it with."""
    if bucket is None:
        return [
            Line("WARN", "off-site snapshots", "etcdS3Bucket is empty: no etcd or Redis snapshot leaves the cluster")
        ]
    hours_limits = snapshot_limits(bucket, *limits)
    try:
        env = rclone_env(bucket, environ)
    except BucketError as error:
        return [Line("FAIL", "off-site snapshots", str(error))]
    return snapshot_lines(bucket, env, now, hours_limits)


def _failed(job: dict[str, Any]) -> dict[str, Any] | None:
    conditions = (job.get("status") or {}).get("conditions") or []
    return next((c for c in conditions if c.get("type") == "Failed" and c.get("status") == "True"), None)


def failed_job_lines(jobs: Sequence[dict[str, Any]], namespace: str) -> list[Line]:
    """A WARN line for each failed Job the backup CronJob still keeps (its failedJobsHistoryLimit), so someone
    reads its logs; the restore Job carries the same labels but is no backup, and its operator watches it."""
    ours = [
        job
        for job in jobs
        if any(o.get("kind") == "CronJob" and o.get("name") == BACKUP_CRONJOB
               for o in job["metadata"].get("ownerReferences") or [])
    ]  # fmt: skip
    failed = sorted(
        ((c.get("lastTransitionTime") or "", job["metadata"]["name"], c) for job in ours if (c := _failed(job))),
        key=lambda entry: entry[0],
    )
    if not failed:
        return [Line("OK", "backup Jobs", f"no failed Job of CronJob {BACKUP_CRONJOB} among the {len(ours)} kept")]
    return [
        Line("WARN", f"backup Job {name}",
             f"failed {when or 'at an unknown time'} ({c.get('reason')}: {c.get('message')}); its logs: "
             f"kubectl -n {namespace} logs job/{name} --all-containers")
        for when, name, c in failed
    ]  # fmt: skip


def schedule_line(cronjob: dict[str, Any]) -> Line:
    """The backup CronJob is not suspended: `make redis-restore` suspends it and resumes it only once Redis
    serves again, so a restore that failed (or a suspend by hand) leaves it so; the stack does not manage the
    field, so neither an `up` nor the drift check would notice."""
    if (cronjob.get("spec") or {}).get("suspend"):
        return Line("WARN", "backup CronJob", f"{BACKUP_CRONJOB} is suspended: no Redis snapshots are taken")
    return Line("OK", "backup CronJob", f"{BACKUP_CRONJOB} runs on its schedule")


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


def collect(kubectl: Kubectl, kubeconfig_text: str, namespace: str, now: datetime) -> list[Line]:
    """What the cluster tells: the Origin CA certificate, failed backup Jobs, the kubeconfig's expiry."""
    lines = []
    crt = kubectl.text(
        ["-n", namespace, "get", "secret", TLS_SECRET, "--ignore-not-found", "-o", r"jsonpath={.data.tls\.crt}"]
    )
    if crt.strip():
        not_after = certificate_not_after(base64.b64decode(crt).decode())
        lines.append(expiry_line("Origin CA certificate", not_after, now, 60, 14))
    else:
        lines.append(Line("OK", "Origin CA certificate", f"not in use (no Secret {TLS_SECRET}: sslMode flexible)"))
    labels = ",".join(f"{k}={v}" for k, v in selector(BACKUP_CRONJOB, namespace).items())
    lines += failed_job_lines(kubectl.json(["-n", namespace, "get", "jobs", "-l", labels])["items"], namespace)
    lines.append(schedule_line(kubectl.json(["-n", namespace, "get", "cronjob", BACKUP_CRONJOB])))
    lines.append(credential_line(kubeconfig_text, now))
    return lines


def run_checks(args: argparse.Namespace, now: datetime) -> list[Line]:
    offsite = offsite_lines(bucket_settings(args.stack), os.environ, now, (args.etcd_hours, args.redis_hours))
    outputs = load_outputs(args.outputs, args.stack)
    with kubeconfig_file(outputs, args.kubeconfig) as path:
        with open(path) as file:
            kubeconfig_text = file.read()
        return offsite + collect(Kubectl(path), kubeconfig_text, outputs.get("appNamespace", "honeydue"), now)


def report(stack: str, code: int, body: str) -> str:
    """The result as Markdown, for the status issue."""
    heading = {
        0: f"Status of stack {stack}: nothing stale or expiring",
        1: f"Status of stack {stack}: stale backups or expiring credentials (`make status` FAIL lines, exit 1)",
        2: f"`make status` could not run its checks for stack {stack} (exit 2): nothing is known about its backups",
    }[code]
    fence = "```"
    # A fence inside the body (a quoted error) would end the code block early.
    quoted = body.replace(fence, "'''")
    return f"### {heading}\n\n{fence}\n{quoted}\n{fence}\n"


def write_verdict(path: str, code: int, report_text: str, facts: Sequence[str]) -> None:
    """GitHub step outputs (`key=value`, the report as a heredoc with a delimiter no report can contain). The
    fingerprint changes only when what is wrong changes, not with every hour of a snapshot's age."""
    fingerprint = hashlib.sha256("\n".join(sorted(facts)).encode()).hexdigest()[:16]
    delimiter = f"HONEYDUE_STATUS_{secrets.token_hex(16)}"
    with open(path, "w") as file:
        file.write(f"verdict={VERDICTS[code]}\nexit_code={code}\nfingerprint={fingerprint}\n")
        file.write(f"report<<{delimiter}\n{report_text}{delimiter}\n")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.status", description=__doc__.split("\n\n")[0])
    parser.add_argument("--stack", default="prod")
    parser.add_argument("--outputs", help="stack outputs JSON (default: `pulumi stack output --json --show-secrets`)")
    parser.add_argument("--kubeconfig", help="default: the stack's kubeconfig output")
    parser.add_argument("--etcd-hours", type=float, help="limit (default: 2 x etcdSnapshotSchedule's gap + 1 h)")
    parser.add_argument("--redis-hours", type=float, help="limit (default: 2 x redisBackupSchedule's gap + 1 h)")
    parser.add_argument("--verdict", metavar="FILE", help="also write the result as GitHub step outputs to FILE")
    args = parser.parse_args(argv)
    try:
        lines = run_checks(args, datetime.now(UTC))
    except (OpsError, OSError, KeyError, ValueError) as error:
        print(f"status: cannot run the checks: {error}", file=sys.stderr)
        if args.verdict:
            write_verdict(args.verdict, 2, report(args.stack, 2, str(error)), [str(error)])
        return 2
    for line in lines:
        print(line)
    code = 1 if any(line.level == "FAIL" for line in lines) else 0
    if args.verdict:
        facts = [f"{line.level} {line.what}" for line in lines if line.level != "OK"]
        write_verdict(args.verdict, code, report(args.stack, code, "\n".join(map(str, lines))), facts)
    return code


if __name__ == "__main__":
    sys.exit(main())
