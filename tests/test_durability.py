"""Issue 16: Redis's volume (hcloud CSI), kured, the Redis backup job and the node upgrades, as pure
builders and as the program registers them (mock engine). The Kubernetes objects are validated against
the 1.34 strict schemas here and, as the plan renders them, in tests/test_k8s_schema.py."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.config.reader import ConfigError
from components.hetzner.cloud_init import NodeBootstrap, cloud_init_document
from components.hetzner.upgrades import PERIODIC_PATH, SETTINGS, SETTINGS_PATH, upgrade_command
from components.k3s.scripts import REBOOT_CHECK_PATH, converge_files
from components.k8s import kured, redis_backup, redis_restore, storage
from components.k8s.manifests import all_objects
from components.k8s.redis import REDIS_MAXMEMORY_MB
from offline.harness import run_program
from offline.records import Plan, SecretValue, plaintext_strings
from offline.stack_config import secret_placeholder
from tests.conftest import load_prod
from tests.test_k8s_manifests import FLEXIBLE, find
from tests.test_k8s_schema import K8S_VERSION, dump, validate
from tests.validators import require_tool

WINDOW = kured.RebootWindow(days=("mon", "tue"), start="02:00", end="05:00", time_zone="Europe/Berlin")
BACKUP = redis_backup.BackupSpec(
    schedule="*/30 * * * *", bucket="b", folder="redis", endpoint="s3.eu-central-003.backblazeb2.com", region="r"
)
PINNED = re.compile(r"^[a-z0-9.-]+/[a-z0-9/._-]+:[A-Za-z0-9._-]+$")


def images(objects: list[dict[str, Any]]) -> list[str]:
    found = []
    for o in objects:
        pod = o.get("spec", {}).get("template", {}).get("spec") or (
            o.get("spec", {}).get("jobTemplate", {}).get("spec", {}).get("template", {}).get("spec")
        )
        if pod:
            found += [c["image"] for c in pod.get("initContainers", []) + pod["containers"]]
    return found


# --- builders ---------------------------------------------------------------------------------------


def test_storage_class_retains_volumes_and_is_not_the_default() -> None:
    objects = storage.storage_objects("nbg1")
    (klass,) = [o for o in objects if o["kind"] == "StorageClass"]  # upstream's Delete/default class is gone
    assert klass["metadata"]["name"] == storage.STORAGE_CLASS
    assert (klass["provisioner"], klass["reclaimPolicy"]) == ("csi.hetzner.cloud", "Retain")
    assert klass["volumeBindingMode"] == "WaitForFirstConsumer"
    assert klass["metadata"]["annotations"]["storageclass.kubernetes.io/is-default-class"] == "false"
    driver = next(o for o in objects if o["kind"] == "CSIDriver")
    assert driver["metadata"]["name"] == klass["provisioner"]


def test_the_csi_driver_is_the_pinned_release_with_its_token_from_the_secret() -> None:
    objects = storage.csi_driver_objects("nbg1")
    pinned = images(objects)
    assert pinned and all(PINNED.match(i) and not i.endswith(":latest") for i in pinned)
    assert "docker.io/hetznercloud/hcloud-csi-driver:" + storage.CSI_VERSION in pinned
    controller = find(objects, "Deployment", "hcloud-csi-controller", "kube-system")
    driver = next(c for c in controller["spec"]["template"]["spec"]["containers"] if c["name"] == "hcloud-csi-driver")
    token = next(e for e in driver["env"] if e["name"] == "HCLOUD_TOKEN")
    assert token["valueFrom"]["secretKeyRef"] == {"name": storage.CSI_SECRET, "key": storage.CSI_SECRET_KEY}
    assert storage.csi_token_secret_shell()["stringData"] == {"token": ""}  # a shell: the value comes as a secret
    for workload in (o for o in objects if o["kind"] in ("Deployment", "DaemonSet")):
        for container in workload["spec"]["template"]["spec"]["containers"]:
            assert set(container["resources"]) == {"requests", "limits"}, container["name"]


def test_the_csi_node_plugin_reads_the_metadata_service_from_the_host_network_as_root() -> None:
    """Its server id comes only from the metadata service (csi-driver v2.22.1 cmd/main.go:102), which the
    node firewall keeps pods and non-root host processes away from; the controller stays in the pod network
    (it finds its location through the API by node name, internal/app/app.go GetServerLocation)."""
    objects = storage.csi_driver_objects("nbg1")
    node = find(objects, "DaemonSet", storage.NODE_PLUGIN, "kube-system")["spec"]["template"]["spec"]
    assert node["hostNetwork"] is True and node["dnsPolicy"] == "ClusterFirstWithHostNet"
    driver = next(c for c in node["containers"] if c["name"] == storage.DRIVER_CONTAINER)
    assert driver["securityContext"]["privileged"] is True and "runAsUser" not in driver["securityContext"]
    controller = find(objects, "Deployment", "hcloud-csi-controller", "kube-system")["spec"]["template"]["spec"]
    assert "hostNetwork" not in controller
    # Neither looks its location up (the controller would need node name == server name, else metadata).
    for spec in (node, controller):
        driver = next(c for c in spec["containers"] if c["name"] == storage.DRIVER_CONTAINER)
        assert {"name": storage.LOCATION_ENV, "value": "nbg1"} in driver["env"]
    workloads = [o for o in objects if o["kind"] in ("Deployment", "DaemonSet")]
    hosted = [o["metadata"]["name"] for o in workloads if o["spec"]["template"]["spec"].get("hostNetwork")]
    assert hosted == [storage.NODE_PLUGIN]


def test_the_vendored_manifest_is_the_named_release() -> None:
    text = storage.CSI_MANIFEST.read_text()
    assert text.count(f"hcloud-csi-driver:{storage.CSI_VERSION}") == 2  # controller and node
    assert storage.CSI_MANIFEST.name == f"hcloud-csi-{storage.CSI_VERSION}.yml"


def test_kured_reboots_one_node_at_a_time_in_the_window_through_evictions() -> None:
    objects = kured.kured_objects(WINDOW)
    (daemonset,) = [o for o in objects if o["kind"] == "DaemonSet"]
    (container,) = daemonset["spec"]["template"]["spec"]["containers"]
    args = container["command"]
    assert "--concurrency=1" in args and "--force-reboot=false" in args
    assert {"--reboot-days=mon,tue", "--start-time=02:00", "--end-time=05:00", "--time-zone=Europe/Berlin"} <= set(args)
    assert container["image"] == "ghcr.io/kubereboot/kured:1.22.1"
    # The lock annotation lives on this DaemonSet: its name and namespace must match the flags.
    assert (daemonset["metadata"]["name"], daemonset["metadata"]["namespace"]) == ("kured", "kube-system")
    role = find(objects, "ClusterRole", "kured", "kube-system")
    assert {"apiGroups": [""], "resources": ["pods/eviction"], "verbs": ["create"]} in role["rules"]
    # The sentinel is the converge step's reboot-check.sh, run on the host: kured mounts nothing of it.
    assert f"--reboot-sentinel-command={REBOOT_CHECK_PATH}" in args
    assert not [a for a in args if a.startswith("--reboot-sentinel=")]
    assert REBOOT_CHECK_PATH in {f.path for f in converge_files() if f.mode == "0755"}
    assert "volumes" not in daemonset["spec"]["template"]["spec"]
    spec = daemonset["spec"]["template"]["spec"]
    assert spec["hostPID"] is True and container["securityContext"]["privileged"] is True  # nsenter into PID 1
    assert f"--prefer-no-schedule-taint={kured.PREFER_NO_SCHEDULE_TAINT}" in args


def test_backup_job_snapshots_then_uploads_with_pinned_images_and_secret_credentials() -> None:
    objects = redis_backup.backup_objects(FLEXIBLE, BACKUP)
    job = find(objects, "CronJob", "redis-backup")
    assert (job["spec"]["schedule"], job["spec"]["concurrencyPolicy"]) == ("*/30 * * * *", "Forbid")
    pod = job["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    (dump_c,), (upload_c,) = pod["initContainers"], pod["containers"]
    assert dump_c["image"] == FLEXIBLE.apps.redis_image and upload_c["image"] == redis_backup.RCLONE_IMAGE
    assert all(PINNED.match(i) for i in images(objects))
    secret_refs = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in upload_c["env"] if "valueFrom" in e}
    assert set(secret_refs) == set(redis_backup.SECRET_KEYS)
    assert {r["name"] for r in secret_refs.values()} == {redis_backup.SECRET}
    plain = {e["name"]: e["value"] for e in upload_c["env"] if "value" in e}
    assert plain["OFFSITE"] == "offsite:b/redis" and plain["RCLONE_CONFIG_OFFSITE_ENDPOINT"].startswith("https://s3.")
    assert not any("KEY" in k for k in plain)
    config_map = find(objects, "ConfigMap", "redis-backup")
    assert set(config_map["data"]) == set(redis_backup.SCRIPTS)


def test_network_policies_let_only_the_backup_pod_reach_redis_and_https() -> None:
    objects = redis_backup.backup_objects(FLEXIBLE, BACKUP)
    egress = find(objects, "NetworkPolicy", "redis-backup-egress")["spec"]
    assert egress["podSelector"]["matchLabels"]["app.kubernetes.io/name"] == "redis-backup"
    ports = [rule["ports"] for rule in egress["egress"]]
    assert ports == [[{"protocol": "TCP", "port": 6379}], [{"protocol": "TCP", "port": 443}]]
    internet = egress["egress"][1]["to"][0]["ipBlock"]
    assert "10.42.0.0/16" in internet["except"] and "169.254.0.0/16" in internet["except"]
    ingress = find(objects, "NetworkPolicy", "redis-backup-to-redis")["spec"]
    assert ingress["podSelector"]["matchLabels"]["app.kubernetes.io/name"] == "redis"
    assert ingress["ingress"][0]["from"] == [{"podSelector": egress["podSelector"]}]


def test_every_new_object_validates_against_kubernetes_1_34_strict(tmp_path: Path) -> None:
    objects = [
        *storage.storage_objects("nbg1"),
        *kured.kured_objects(WINDOW),
        *redis_backup.backup_objects(FLEXIBLE, BACKUP),
    ]
    run = validate(dump(objects, tmp_path))
    problems = [line for line in run.stdout.splitlines() if not line.startswith("INFO ")]
    assert run.returncode == 0 and not problems, "\n".join(problems) or run.stderr
    passed = [line for line in run.stdout.splitlines() if f"against version {K8S_VERSION[:4]}" in line]
    assert len(passed) == len(objects)


def test_nodes_get_security_upgrades_and_never_reboot_themselves() -> None:
    document = cloud_init_document(NodeBootstrap(hostname="h", host_private_key="k", host_public_key="p",
                                                 firewall_script="#!/bin/sh\n"))  # fmt: skip
    assert {"unattended-upgrades", "update-notifier-common"} <= set(document["packages"])
    files = {f["path"]: f["content"] for f in document["write_files"]}
    assert 'APT::Periodic::Unattended-Upgrade "1";' in files[PERIODIC_PATH]
    assert files[SETTINGS_PATH] == SETTINGS and 'Automatic-Reboot "false"' in SETTINGS
    # The running nodes' step writes the same files (cloud-init never reaches them again).
    text = upgrade_command()
    assert SETTINGS in text and PERIODIC_PATH in text and "apt-config dump" in text


# --- the program (mock engine) ----------------------------------------------------------------------

K8S = "kubernetes:"


def test_the_plan_has_the_driver_the_class_redis_on_it_the_backup_job_and_kured(prod_plan: Plan) -> None:
    names = {(r.type, r.name) for r in prod_plan.registrations}
    assert ("kubernetes:storage.k8s.io/v1:CSIDriver", "csidriver-csi.hetzner.cloud") in names
    assert ("kubernetes:apps/v1:DaemonSet", "kube-system-daemonset-kured") in names
    assert ("kubernetes:batch/v1:CronJob", "honeydue-cronjob-redis-backup") in names
    klass = prod_plan.get("kubernetes:storage.k8s.io/v1:StorageClass", "storageclass-hcloud-volumes-retain")
    assert klass.inputs["reclaimPolicy"] == "Retain"
    redis = prod_plan.get("kubernetes:apps/v1:StatefulSet", "honeydue-statefulset-redis")
    (claim,) = redis.inputs["spec"]["volumeClaimTemplates"]
    assert claim["spec"]["storageClassName"] == klass.inputs["metadata"]["name"]
    assert prod_plan.waits_for(redis, klass)


def test_the_csi_token_reaches_the_cluster_only_as_a_secret(prod_plan: Plan) -> None:
    secret = prod_plan.get("kubernetes:core/v1:Secret", "kube-system-secret-hcloud")
    assert isinstance(secret.inputs["stringData"], SecretValue)
    token = secret_placeholder("hcloudCsiToken")
    assert secret.inputs["stringData"].value == {"token": token}
    leaks = [r.name for r in prod_plan.registrations if any(token in s for s in plaintext_strings(r.inputs))]
    assert not leaks
    assert secret.parent.endswith("honeydue:storage:Storage::honeydue-storage")


def test_backup_waits_for_the_namespace_and_redis_secret_and_kured_for_the_cluster(prod_plan: Plan) -> None:
    job = prod_plan.get("kubernetes:batch/v1:CronJob", "honeydue-cronjob-redis-backup")
    namespace = prod_plan.get("kubernetes:core/v1:Namespace", "namespace-honeydue")
    redis_secret = prod_plan.get("kubernetes:core/v1:Secret", "honeydue-secret-honeydue-redis")
    offsite = prod_plan.get("kubernetes:core/v1:Secret", "honeydue-secret-redis-backup-offsite")
    assert prod_plan.waits_for(job, namespace) and prod_plan.waits_for(job, redis_secret)
    assert prod_plan.waits_for(job, offsite) and isinstance(offsite.inputs["stringData"], SecretValue)
    daemonset = prod_plan.get("kubernetes:apps/v1:DaemonSet", "kube-system-daemonset-kured")
    assert "--concurrency=1" in daemonset.inputs["spec"]["template"]["spec"]["containers"][0]["command"]


def test_the_backup_job_holds_its_own_key_and_no_pod_the_etcd_snapshot_key(prod_plan: Plan) -> None:
    """Issue 23 item 3: whoever can create pods in the apps' namespace reads the backup Secret; with the etcd
    key there, they could delete the etcd disaster-recovery snapshots (a versioned delete on B2 is final)."""
    config = load_prod()
    etcd = config.k3s.etcd_s3
    assert etcd is not None
    offsite = prod_plan.get("kubernetes:core/v1:Secret", "honeydue-secret-redis-backup-offsite")
    access, secret = redis_backup.SECRET_KEYS
    assert offsite.inputs["stringData"].value == {
        access: config.maintenance.redis_backup_access_key.value,
        secret: config.maintenance.redis_backup_secret_key.value,
    }
    for resource in prod_plan.by_type("kubernetes:core/v1:Secret"):
        text = str(getattr(resource.inputs.get("stringData"), "value", resource.inputs.get("stringData")))
        assert etcd.access_key.value not in text and etcd.secret_key.value not in text, resource.name


def test_every_node_gets_the_upgrade_step_after_its_first_boot(prod_plan: Plan) -> None:
    steps = [r for r in prod_plan.by_type("command:remote:Command") if "-node-upgrades-" in r.name]
    assert sorted(r.name for r in steps) == [f"honeydue-node-upgrades-{i}" for i in (1, 2, 3)]
    for step in steps:
        # First boot ends when the node has its own host key (the re-key step after cloud-init).
        first_boot = prod_plan.get("command:remote:Command", f"honeydue-k3s-{step.name[-1]}-rekey")
        assert first_boot.urn in step.dependencies
        assert step.inputs["create"] == upgrade_command()
        # A new server (a replacement) gets the step again: it is triggered by its server's id.
        server = prod_plan.get("hcloud:index/server:Server", f"honeydue-{step.name[-1]}")
        assert step.inputs["triggers"] == [server.id]


def test_without_an_off_site_bucket_there_is_no_backup_job_but_kured_stays() -> None:
    plan = run_program("prod", {"etcdS3Bucket": "", "etcdS3Endpoint": "", "etcdS3Region": ""})
    assert not plan.by_type("kubernetes:batch/v1:CronJob")
    assert plan.by_type("kubernetes:apps/v1:DaemonSet")


def test_bad_maintenance_config_is_reported_with_every_key() -> None:
    bad = {
        "rebootDays": '["mon", "someday"]',
        "rebootStartTime": "2am",
        "rebootEndTime": "25:00",
        "rebootTimeZone": "Mars/Olympus",
        "redisBackupSchedule": "often",
        "redisBackupFolder": "/abs",
    }
    with pytest.raises(ConfigError) as caught:
        load_prod(bad)
    message = str(caught.value)
    for key in bad:
        assert f"honeydue:{key}:" in message, key


def test_the_restore_job_writes_into_redis_s_own_claim_as_redis(tmp_path: Path) -> None:
    job = redis_restore.restore_job(FLEXIBLE, BACKUP, snapshot="redis-20261130T000000Z.rdb")
    pod = job["spec"]["template"]["spec"]
    statefulset = find(redis_backup.backup_objects(FLEXIBLE, BACKUP) + all_objects(FLEXIBLE), "StatefulSet", "redis")
    (claim,) = statefulset["spec"]["volumeClaimTemplates"]
    data = next(v for v in pod["volumes"] if v["name"] == "data")
    # A StatefulSet's claim is <template>-<statefulset>-<ordinal>.
    assert data["persistentVolumeClaim"]["claimName"] == f"{claim['metadata']['name']}-redis-0"
    assert (
        pod["securityContext"]["runAsUser"] == statefulset["spec"]["template"]["spec"]["securityContext"]["runAsUser"]
    )
    (fetch,), (restore,) = pod["initContainers"], pod["containers"]
    assert {"name": "SNAPSHOT", "value": "redis-20261130T000000Z.rdb"} in fetch["env"]
    assert {"name": "FORCE", "value": "no"} in restore["env"]
    # The backup pods' labels: the same NetworkPolicy lets it reach B2.
    assert job["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/name"] == "redis-backup"
    # Sized from Redis's maxmemory (tests/test_redis_backup.py restores a dataset close to it in that limit).
    memory = f"{redis_restore.restore_memory_mb(REDIS_MAXMEMORY_MB)}Mi"
    assert restore["resources"]["limits"]["memory"] == restore["resources"]["requests"]["memory"] == memory
    assert f"--maxmemory {REDIS_MAXMEMORY_MB}mb " in statefulset["spec"]["template"]["spec"]["containers"][0]["args"][0]
    # Never on a node with a Redis pod: the claim is ReadWriteOnce, per node, not per pod.
    (term,) = pod["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    redis_labels = statefulset["spec"]["template"]["metadata"]["labels"]
    assert term["topologyKey"] == "kubernetes.io/hostname"
    assert term["labelSelector"]["matchLabels"].items() <= redis_labels.items()
    assert {"name": "REDIS_HOST", "value": "redis.honeydue.svc.cluster.local"} in restore["env"]
    run = validate(dump([job], tmp_path))
    assert run.returncode == 0 and f"against version {K8S_VERSION[:4]}" in run.stdout, run.stdout


@pytest.mark.parametrize("name", ["", "latest", "redis-2026.rdb", "../redis-20261130T000000Z.rdb"])
def test_the_restore_job_needs_a_snapshot_name(name: str) -> None:
    with pytest.raises(ValueError, match="is not a snapshot name"):
        redis_restore.restore_job(FLEXIBLE, BACKUP, snapshot=name)


def test_the_restore_tool_prints_the_job_for_the_stack(capsys: pytest.CaptureFixture[str]) -> None:
    from tools import redis_restore as tool

    assert tool.main(["--print", "--force", "--snapshot", "redis-20261130T000000Z.rdb"]) == 0
    job = yaml.safe_load(capsys.readouterr().out)
    assert job["kind"] == "Job" and job["metadata"]["namespace"] == "honeydue"
    assert {"name": "FORCE", "value": "yes"} in job["spec"]["template"]["spec"]["containers"][0]["env"]
    assert "PLACEHOLDER" not in yaml.safe_dump(job).upper()
    assert tool.main(["--print", "--snapshot", "newest"]) == 1
    assert "--snapshot: 'newest' is not a snapshot name" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("script", "shell"),
    [*((f"redis/{name}", "sh") for name in redis_backup.SCRIPTS), ("node/unattended-upgrades.sh", "bash")],
)
def test_scripts_pass_shellcheck(script: str, shell: str) -> None:
    """The redis images and rclone's image have only busybox/POSIX sh; the node script runs under bash."""
    path = Path(__file__).resolve().parents[1] / "scripts" / script
    run = subprocess.run(
        [require_tool("shellcheck"), "-s", shell, str(path)], capture_output=True, text=True, timeout=60
    )
    assert run.returncode == 0, run.stdout


def test_in_cluster_objects_use_the_cluster_provider_after_server_1_is_ready(prod_plan: Plan) -> None:
    namespace = prod_plan.get("kubernetes:core/v1:Namespace", "namespace-honeydue")
    ready = prod_plan.get("command:remote:Command", "honeydue-k3s-1-ready")
    for component in ("honeydue:storage:Storage", "honeydue:maintenance:Maintenance"):
        children = [r for r in prod_plan.registrations if r.custom and f"::{component}$" in r.urn]
        assert children, component
        for child in children:
            assert child.provider == namespace.provider and "kubernetes" in child.provider, child.name
            assert prod_plan.waits_for(child, ready), child.name
