"""checkov over the apps' namespace (issue 23 item 7).

The objects the program deploys into the namespace (the prod plan, in its SSL mode, plus what only full/strict
adds) and the restore Job `make redis-restore` applies go into one directory, which the real checkov scans
from its own venv (tools/checkov/requirements.txt, built by `make unit`). No check may fail but the waived
ones below, resource by resource: a new failure fails the test, and so does a waiver that no longer applies.
Two altered copies ride along as controls, so a pass means the scanner read what the item is about.
"""

from __future__ import annotations

import contextlib
import copy
import fcntl
import io
import json
import os
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.k8s.manifests import ingress_tls, tls_secret_shells
from components.stack import TLS_SECRET_NAME
from offline.plan import kubernetes_manifest
from offline.records import Plan
from tests.conftest import load_prod
from tests.test_k8s_manifests import STRICT
from tests.test_k8s_schema import dump
from tests.test_locks import DEV, dry_run, read_in, read_lock

PROJECT_DIR = Path(__file__).resolve().parents[1]
LOCK = PROJECT_DIR / "tools" / "checkov" / "requirements.txt"
VENV = "build/tools/checkov-venv"
CHECKOV = PROJECT_DIR / VENV / "bin" / "checkov"
NAMESPACE = load_prod().apps.namespace
SNAPSHOT = "redis-20260101T000000Z.rdb"

# checkov names a resource Kind.namespace.name.
API, ADMIN, WORKER = (f"Deployment.{NAMESPACE}.{name}" for name in ("api", "admin", "worker"))
REDIS = f"StatefulSet.{NAMESPACE}.redis"
BACKUP = f"CronJob.{NAMESPACE}.redis-backup"
RESTORE = f"Job.{NAMESPACE}.redis-restore"
PODS = (API, ADMIN, WORKER, REDIS, BACKUP, RESTORE)


@dataclass(frozen=True)
class Waiver:
    reason: str
    resources: tuple[str, ...]


# The one place checks are waived: each failing check, why it does not apply here, and where it fails.
WAIVERS: dict[str, Waiver] = {
    "CKV_K8S_43": Waiver(
        "Image should use digest. Images are pinned to release tags on purpose: Pulumi.prod.yaml names the apps "
        "by release (v1.42.0) and redis as 7.4.2-alpine, and the config check (components/config/checks.py, "
        "image_reference) refuses `latest` and moving tags such as 7.4-alpine; rclone is 1.75.0 "
        "(redis_backup.RCLONE_IMAGE). What remains is a release tag re-pushed upstream. The same check accepts "
        "name:tag@sha256:..., so moving prod to digests is a config change, not a manifest one.",
        PODS,
    ),
    "CKV_K8S_15": Waiver(
        "Image Pull Policy should be Always. With images pinned to releases (CKV_K8S_43) IfNotPresent runs the same "
        "image, and Always would make every pod start (a reschedule during a kured reboot, each backup run) wait "
        "on ghcr.io and Docker Hub answering. Always's other use, making a pod prove it may pull a private image "
        "its node already holds, does not apply: only this stack creates pods here (the consumers' account is "
        "`view`, components/k8s/access.py), and every pod of ghcr.io/honeydue/* carries the registry Secret.",
        PODS,
    ),
    "CKV_K8S_35": Waiver(
        "Prefer secrets as files over environment variables. The images read their settings from the "
        "environment: api, worker and admin take DATABASE_URL, APP_SECRET_KEY, REDIS_URL, ... through envFrom "
        "and have no config-file path; redis's start script writes REDIS_PASSWORD into its config "
        "(components/k8s/redis.py); redis-cli takes its password as REDISCLI_AUTH (its way of keeping it off the "
        "command line); rclone's remote is configured by environment only. No value is on a command line, and a "
        "container's environment is readable only by its own uid and root, who can read a mounted file too.",
        PODS,
    ),
    "CKV_K8S_40": Waiver(
        "Containers should run as a high UID. Redis keeps the official image's uid 999 on purpose "
        "(components/k8s/spec.py REDIS_UID, tests/test_workload_uids.py): its AOF files were written by 999 "
        "under umask 0077 and another uid could not read them after a rollout. The restore Job writes into "
        "Redis's volume as the same uid, so Redis owns what it finds. Every other pod runs as 65532.",
        (REDIS, RESTORE),
    ),
    "CKV_K8S_8": Waiver(
        "Liveness probe. The worker (Asynq) exposes no endpoint and its image has no shell, so nothing could "
        "observe its health; a liveness probe blind to real health would only add restarts "
        "(components/k8s/workloads.py worker_objects).",
        (WORKER,),
    ),
    "CKV_K8S_9": Waiver(
        "Readiness probe. No Service routes to the worker, so readiness would gate nothing; and as for "
        "CKV_K8S_8, there is nothing to probe.",
        (WORKER,),
    ),
}


def _drop_cpu_limits(manifest: dict[str, Any]) -> None:
    pod = manifest["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    for container in pod.get("initContainers", []) + pod["containers"]:
        del container["resources"]["limits"]["cpu"]


def _drop_pod_uid(manifest: dict[str, Any]) -> None:
    del manifest["spec"]["template"]["spec"]["securityContext"]["runAsUser"]


# Controls, scanned in the same run: a copy of a real object with one thing taken away must fail exactly one
# more check than the original. The CronJob's CPU limits are the item's subject; the uid copy shows that
# checkov reads the pod-level runAsUser, so no container needs one of its own.
CONTROLS: dict[str, tuple[str, Callable[[dict[str, Any]], None], str]] = {
    # control name: (the original, what is taken away, the check that must now fail)
    "redis-backup-no-cpu-limit": (BACKUP, _drop_cpu_limits, "CKV_K8S_11"),
    "api-no-pod-uid": (API, _drop_pod_uid, "CKV_K8S_40"),
}


def checkov_id(manifest: dict[str, Any]) -> str:
    meta = manifest["metadata"]
    return ".".join(p for p in (manifest["kind"], meta.get("namespace"), meta["name"]) if p)


def namespace_objects(plan: Plan) -> list[dict[str, Any]]:
    """What the program deploys into the namespace in its SSL mode and what full/strict adds, and the
    restore Job exactly as `make redis-restore` applies it (tools/redis_restore.py, --print)."""
    planned = [kubernetes_manifest(r) for r in plan.registrations if r.type.startswith("kubernetes:")]
    objects = [
        m
        for m in planned
        if m.get("metadata", {}).get("namespace") == NAMESPACE
        or (m["kind"] == "Namespace" and m["metadata"]["name"] == NAMESPACE)
    ]
    strict = ingress_tls(STRICT) + tls_secret_shells(STRICT)
    assert STRICT.tls_secret_name == TLS_SECRET_NAME
    have = {checkov_id(m) for m in objects}
    objects += [m for m in strict if m["metadata"]["namespace"] == NAMESPACE and checkov_id(m) not in have]
    from tools.redis_restore import main

    with contextlib.redirect_stdout(io.StringIO()) as printed:
        assert main(["--stack", "prod", "--snapshot", SNAPSHOT, "--print"]) == 0
    return [*objects, yaml.safe_load(printed.getvalue())]


def controls(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    by_id = {checkov_id(m): m for m in objects}
    made = []
    for name, (original, take_away, _) in CONTROLS.items():
        control = copy.deepcopy(by_id[original])
        control["metadata"]["name"] = name
        take_away(control)
        made.append(control)
    return made


def run_checkov(directory: Path) -> dict[str, Any]:
    """One scan, offline: no platform download, no update check against PyPI (checkov's banner asks at
    import), and neither a developer's .checkov.yaml (read from $HOME and the working directory) nor their
    CKV_*/BC_* variables (a skip list, an API key) can change what is checked."""
    # `make unit` has built the venv already; a bare pytest run gets it built, or refreshed after `make lock`.
    environment = {k: v for k, v in os.environ.items() if not k.startswith("MAKE")}
    subprocess.run(["make", "-s", f"{VENV}/.installed"], cwd=PROJECT_DIR, env=environment, check=True, timeout=900)
    ours = ("CKV_", "BC_", "PRISMA_", "CHECKOV_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(ours)}
    env |= {"HOME": str(directory.parent), "CKV_SKIP_PACKAGE_UPDATE_CHECK": "true"}
    command = [str(CHECKOV), "-d", str(directory), "--framework", "kubernetes", "-o", "json", "--compact",
               "--skip-download"]  # fmt: skip
    run = subprocess.run(command, cwd=directory.parent, env=env, capture_output=True, text=True, timeout=300)
    # 1: checks failed; 2 and up: checkov itself did.
    assert run.returncode in (0, 1), run.stderr[-3000:]
    report: dict[str, Any] = json.loads(run.stdout)
    return report


@contextlib.contextmanager
def run_once(factory: pytest.TempPathFactory) -> Iterator[Path | None]:
    """Under pytest-xdist, the file the first worker wrote its report to (the others wait for it);
    None outside xdist. Every worker's basetemp is <this session's dir>/popen-gwN, so the file is shared
    by this session's workers only (pytest-xdist's documented way to run a session fixture once)."""
    if "PYTEST_XDIST_WORKER" not in os.environ:
        yield None
        return
    shared = factory.getbasetemp().parent
    with (shared / "checkov.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield shared / "checkov.json"


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> dict[str, Any]:
    """checkov's JSON report over the namespace and the controls; one scan per test session (7 s with cold
    bytecode, 3 s warm, nearly all of it checkov's imports)."""
    with run_once(tmp_path_factory) as cached:
        if cached is not None and cached.exists():
            return dict(json.loads(cached.read_text()))
        objects = namespace_objects(request.getfixturevalue("prod_plan"))
        directory = tmp_path_factory.mktemp("checkov") / "manifests"
        directory.mkdir()
        dump(objects + controls(objects), directory)
        result = run_checkov(directory)
        result["rendered"] = [checkov_id(m) for m in objects]
        if cached is not None:
            cached.write_text(json.dumps(result))
        return result


def failed_by_resource(report: dict[str, Any]) -> dict[str, set[str]]:
    failed: dict[str, set[str]] = {}
    for check in report["results"]["failed_checks"]:
        failed.setdefault(check["resource"], set()).add(check["check_id"])
    return failed


def test_the_namespace_fails_no_check_but_the_waived_ones(report: dict[str, Any]) -> None:
    assert report["summary"]["checkov_version"] == read_in(LOCK.with_suffix(".in"))["checkov"]
    assert not report["results"]["parsing_errors"] and not report["summary"]["parsing_errors"]
    # Waivers live here only: a checkov.io/skip annotation on a manifest would bypass them.
    assert not report["results"]["skipped_checks"]
    control_ids = {f"{original.split('.')[0]}.{NAMESPACE}.{name}" for name, (original, _, _) in CONTROLS.items()}
    failed = {r: ids for r, ids in failed_by_resource(report).items() if r not in control_ids}
    expected: dict[str, set[str]] = {}
    for check_id, waiver in WAIVERS.items():
        for resource in waiver.resources:
            expected.setdefault(resource, set()).add(check_id)
    names = {c["check_id"]: c["check_name"] for c in report["results"]["failed_checks"]}
    new = sorted(f"{r}: {c} {names[c]}" for r, ids in failed.items() for c in ids - expected.get(r, set()))
    stale = sorted(f"{r}: {c}" for r, ids in expected.items() for c in ids - failed.get(r, set()))
    assert not new, "new failures: fix the manifest, or waive in WAIVERS with the reason\n" + "\n".join(new)
    assert not stale, "waivers that no longer apply: remove them from WAIVERS\n" + "\n".join(stale)


def test_every_workload_of_the_namespace_was_scanned(report: dict[str, Any]) -> None:
    """A kind checkov stopped reading would pass every check silently: each workload must show up in the report."""
    scanned = {c["resource"] for key in ("passed_checks", "failed_checks") for c in report["results"][key]}
    workloads = {r for r in report["rendered"] if r.split(".")[0] in ("Deployment", "StatefulSet", "CronJob", "Job")}
    assert workloads == set(PODS)
    assert workloads <= scanned, workloads - scanned


@pytest.mark.parametrize("name", CONTROLS)
def test_a_control_copy_fails_exactly_the_check_it_was_made_to_fail(report: dict[str, Any], name: str) -> None:
    original, _, check_id = CONTROLS[name]
    failed = failed_by_resource(report)
    control = f"{original.split('.')[0]}.{NAMESPACE}.{name}"
    assert check_id not in failed.get(original, set())
    assert failed.get(control, set()) - failed.get(original, set()) == {check_id}


def test_checkov_has_a_hash_locked_venv_of_its_own_that_only_make_test_builds() -> None:
    lock = read_lock(LOCK)
    assert all(hashes for _, hashes in lock.values())
    wanted = read_in(LOCK.with_suffix(".in"))
    assert wanted == {"checkov": lock["checkov"][0]}, f"{LOCK.name} is stale: run `make lock`"
    # Its pins never reach ./venv: checkov is no dependency of the test tools.
    assert "checkov" not in read_lock(DEV)
    assert f"tools/env.sh --label test venv {VENV} tools/checkov/requirements.txt\n" in dry_run("test")
    assert "checkov" not in dry_run("plan")
