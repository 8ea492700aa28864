"""The off-site bucket as `make status` reads it: the newest etcd and Redis snapshot, listed with rclone, and
how old each may be, from the schedule that makes it.

The bucket is listed with a list-only B2 application key, given as STATUS_B2_KEY_ID and
STATUS_B2_APPLICATION_KEY (in CI: environmentVariables of the ESC environment honeydue/prod-readonly).
Create it with only the capabilities listBuckets,listFiles, restricted to the snapshot bucket, so it can
neither read, write nor delete a snapshot:

    b2 key create --bucket <etcdS3Bucket> honeydue-status listBuckets,listFiles

(B2 CLI 4; `b2 create-key` in older releases.)

A snapshot's time is rclone's ModTime with --use-server-modtime: for S3 the object's Last-Modified, when its
upload finished, for etcd and Redis alike; never the name (K3s names S3 snapshots
etcd-snapshot-<node>-<unix time>, the backup job redis-<UTC time>.rdb). The question is when a copy last
reached the bucket, and --use-server-modtime also spares the HEAD per object that reading rclone's own mtime
metadata takes, which a list-only key may not do; --no-mimetype spares the other HEAD per object (lsjson
reads each object's MimeType otherwise: rclone fs/operations/lsjson.go). The folder is listed with a
trailing `/`: without it rclone first HEADs an object named like the folder, which a key restricted to the
folder's prefix is refused (fatal in rclone 1.72 to 1.74, rclone #9582).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from components.config.cron import cron_schedule, fire_gaps
from components.config.reader import NAMESPACE
from components.k8s.redis_backup import BackupSpec, offsite_env
from offline.stack_config import StackFileError, stack_config
from tools.ops import OpsError

KEY_ID_ENV = "STATUS_B2_KEY_ID"
KEY_ENV = "STATUS_B2_APPLICATION_KEY"
REMOTE = "offsite"
RCLONE_TIMEOUT = 120
"""Seconds one listing may take; rclone's own timeouts (below) are shorter."""
# Bounded retries: a bad key or an unreachable endpoint is one FAIL line within seconds, not minutes of retries.
RCLONE_OPTIONS = ("--files-only", "--use-server-modtime", "--no-mimetype", "--retries", "1", "--low-level-retries", "2",
                  "--contimeout", "10s", "--timeout", "30s")  # fmt: skip
# upload.sh's names; fetch.sh and the retention sweep take the same files.
REDIS_SNAPSHOT = re.compile(r"redis-.*\.rdb", re.ASCII)
_LOG_TIME = re.compile(r"\d{4}/\d{2}/\d{2} \d{2}:\d{2}:\d{2} (?:[A-Z]+ *: *)?", re.ASCII)
# One missed run is no alarm (K3s and the CronJob try again at the next one); two in a row are. The margin
# covers a run's own length (a snapshot and its upload; a CronJob may start up to its startingDeadlineSeconds,
# 10 min, late), so a snapshot just one missed run old is never flagged.
MISSED_RUNS = 2
MARGIN = timedelta(hours=1)


class BucketError(Exception):
    """The bucket could not be listed: one sentence naming what failed."""


@dataclass(frozen=True)
class Bucket:
    """Where the snapshots are and how often they are made: the stack's config."""

    name: str
    endpoint: str
    region: str
    etcd_folder: str
    redis_folder: str
    etcd_schedule: str
    redis_schedule: str


def bucket_settings(stack: str) -> Bucket | None:
    """From Pulumi.<stack>.yaml over Pulumi.yaml's defaults (the values `pulumi preview` passes); None when
    etcdS3Bucket is empty, where nothing is copied off-site."""
    try:
        config, _ = stack_config(stack)
    except StackFileError as error:
        raise OpsError(str(error)) from None

    def value(key: str) -> str:
        return config[f"{NAMESPACE}:{key}"]

    if not value("etcdS3Bucket"):
        return None
    return Bucket(
        name=value("etcdS3Bucket"),
        endpoint=value("etcdS3Endpoint"),
        region=value("etcdS3Region"),
        etcd_folder=value("etcdS3Folder"),
        redis_folder=value("redisBackupFolder"),
        etcd_schedule=value("etcdSnapshotSchedule"),
        redis_schedule=value("redisBackupSchedule"),
    )


def hours(span: timedelta) -> str:
    return f"{span.total_seconds() / 3600:g} h"


def longest_gap(schedule: str) -> timedelta:
    """The longest time between two consecutive runs of a cron schedule, in the grammar K3s and CronJobs
    read (components/config/cron.py, which computes it over every date of a 28-year window)."""
    problem = cron_schedule(schedule)
    if problem:
        raise ValueError(problem)
    gaps = fire_gaps(schedule)
    if gaps is None:
        raise ValueError(f"{schedule!r} never fires")
    return timedelta(minutes=gaps[1])


@dataclass(frozen=True)
class Limit:
    """How old the newest snapshot may be, and where that number comes from."""

    age: timedelta
    why: str


def schedule_limit(schedule: str) -> Limit:
    gap = longest_gap(schedule)
    return Limit(MISSED_RUNS * gap + MARGIN, f"{MISSED_RUNS} x the {hours(gap)} gap of {schedule!r} + {hours(MARGIN)}")


def rclone_env(bucket: Bucket, environ: Mapping[str, str]) -> dict[str, str]:
    """rclone's remote `offsite` exactly as the backup job configures it (components/k8s/redis_backup.py),
    with the list-only key. No config file is read, so an operator's own `offsite` remote cannot leak in."""
    missing = [name for name in (KEY_ID_ENV, KEY_ENV) if not environ.get(name)]
    if missing:
        raise BucketError(f"{' and '.join(missing)} not set: the list-only B2 key (tools/status_bucket.py)")
    spec = BackupSpec(schedule=bucket.redis_schedule, bucket=bucket.name, folder=bucket.redis_folder,
                      endpoint=bucket.endpoint, region=bucket.region)  # fmt: skip
    plain = {e["name"]: e["value"] for e in offsite_env(spec) if "value" in e}
    job = {name: value for name, value in plain.items() if name.startswith("RCLONE_CONFIG_OFFSITE_")}
    return job | {
        "PATH": environ.get("PATH", os.defpath),
        "HOME": environ.get("HOME", "/tmp"),
        "RCLONE_CONFIG": os.devnull,
        "RCLONE_CONFIG_OFFSITE_ACCESS_KEY_ID": environ[KEY_ID_ENV],
        "RCLONE_CONFIG_OFFSITE_SECRET_ACCESS_KEY": environ[KEY_ENV],
    }


def list_folder(path: str, env: Mapping[str, str]) -> str:
    """`rclone lsjson` of offsite:<path>; a failure is a BucketError with rclone's last stderr line."""
    command = ["rclone", "lsjson", *RCLONE_OPTIONS, f"{REMOTE}:{path.rstrip('/')}/"]
    try:
        run = subprocess.run(
            command, env=dict(env), capture_output=True, text=True, timeout=RCLONE_TIMEOUT, check=False
        )
    except FileNotFoundError:
        raise BucketError("rclone is not installed") from None
    except subprocess.TimeoutExpired:
        raise BucketError(f"rclone lsjson {REMOTE}:{path} took longer than {RCLONE_TIMEOUT} s") from None
    if run.returncode != 0:
        lines = run.stderr.strip().splitlines() or [f"exit status {run.returncode}"]
        raise BucketError(f"rclone lsjson {REMOTE}:{path} failed: {_LOG_TIME.sub('', lines[-1]).strip()}")
    return run.stdout


@dataclass(frozen=True)
class Snapshot:
    name: str
    time: datetime


def _mod_time(text: str) -> datetime:
    # rclone writes RFC 3339 with nanoseconds, which Python 3.11's fromisoformat reads (to microseconds).
    time = datetime.fromisoformat(text)
    return time if time.tzinfo else time.replace(tzinfo=UTC)


def newest_snapshot(lsjson: str, pattern: re.Pattern[str] | None = None) -> Snapshot | None:
    """The newest file of an `rclone lsjson` listing (whose name matches `pattern`), by ModTime; folders
    (K3s's .metadata/) are no snapshots."""
    try:
        entries: Any = json.loads(lsjson)
        found = [
            Snapshot(entry["Name"], _mod_time(entry["ModTime"]))
            for entry in entries
            if not entry.get("IsDir") and (pattern is None or pattern.fullmatch(entry["Name"]))
        ]
    except (ValueError, TypeError, KeyError, AttributeError) as error:
        raise BucketError(f"rclone lsjson printed no listing: {error!r}") from None
    return max(found, key=lambda s: s.time, default=None)
