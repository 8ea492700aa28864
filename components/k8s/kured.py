"""kured, the Kubernetes Reboot Daemon: reboots a node after unattended-upgrades asked for it, one node
at a time, cordoned and drained first, inside a window.

Pure: plain values in, manifests out. The objects follow kured's release manifests `kured-rbac.yaml` and
`kured-ds.yaml` at tag 1.22.1 (github.com/kubereboot/kured), the release those files pin the image to.
One at a time is not enough for etcd on its own: kured's loop checks the window, the sentinel, its
blockers and its lock (cmd/kured/main.go rebootAsRequired), never whether the other servers are up, so it
would reboot a second server while one is down or while a `pulumi up` restarts another. So:
- the sentinel is a command, scripts/k3s/reboot-check.sh on the node (the converge step installs it): a
  server reboots only when every other etcd member is Ready and schedulable and a majority stays up;
- the lock, an annotation on kured's own DaemonSet that at most `--concurrency` nodes hold
  (pkg/daemonsetlock), is also taken by the stack's steps that take a server down (scripts/k3s/lib.sh
  take_reboot_lock), so the two never overlap.
Its drain is kubectl's (k8s.io/kubectl/pkg/drain): evictions, which honour
PodDisruptionBudgets; without --force-reboot a failed or timed-out drain uncordons, releases the lock
and retries at the next period instead of rebooting (main.go, "will release lock and retry").
"""

from __future__ import annotations

from dataclasses import dataclass

from components.k3s.scripts import REBOOT_CHECK_PATH
from components.k8s.spec import Manifest, labels, metadata

KURED_VERSION = "1.22.1"
KURED_IMAGE = f"ghcr.io/kubereboot/kured:{KURED_VERSION}"
NAMESPACE = "kube-system"
NAME = "kured"
# Ubuntu's update-notifier-common writes this file when an upgraded package needs a reboot; the sentinel
# command reads it on the host.
SENTINEL = "/var/run/reboot-required"
# The taint kured puts on a node that waits for the lock (PreferNoSchedule): pods evicted from the node
# being drained avoid the next one to reboot, so Redis and its volume do not hop from node to node.
PREFER_NO_SCHEDULE_TAINT = "weave.works/kured-node-reboot"


@dataclass(frozen=True, kw_only=True)
class RebootWindow:
    """When kured may reboot."""

    days: tuple[str, ...]
    """kured day names (sun … sat)."""
    start: str
    """HH:MM."""
    end: str
    """HH:MM."""
    time_zone: str
    """IANA zone."""


def _labels() -> dict[str, str]:
    return labels(NAME, "reboot-coordinator", NAME)


def _rbac() -> list[Manifest]:
    # kured-rbac.yaml 1.22.1: drain needs nodes get/patch, pods list/delete/get, daemonsets get and
    # pods/eviction create; the lock needs update on its own DaemonSet only.
    cluster_rules = [
        {"apiGroups": [""], "resources": ["nodes"], "verbs": ["get", "patch"]},
        {"apiGroups": [""], "resources": ["pods"], "verbs": ["list", "delete", "get"]},
        {"apiGroups": ["apps"], "resources": ["daemonsets"], "verbs": ["get"]},
        {"apiGroups": [""], "resources": ["pods/eviction"], "verbs": ["create"]},
    ]
    lock_rules = [{"apiGroups": ["apps"], "resources": ["daemonsets"], "resourceNames": [NAME], "verbs": ["update"]}]
    subject = [{"kind": "ServiceAccount", "name": NAME, "namespace": NAMESPACE}]
    rbac = "rbac.authorization.k8s.io"
    return [
        {"apiVersion": f"{rbac}/v1", "kind": "ClusterRole", "metadata": metadata(NAME, None, _labels()),
         "rules": cluster_rules},
        {"apiVersion": f"{rbac}/v1", "kind": "ClusterRoleBinding", "metadata": metadata(NAME, None, _labels()),
         "roleRef": {"apiGroup": rbac, "kind": "ClusterRole", "name": NAME}, "subjects": subject},
        {"apiVersion": f"{rbac}/v1", "kind": "Role", "metadata": metadata(NAME, NAMESPACE, _labels()),
         "rules": lock_rules},
        {"apiVersion": f"{rbac}/v1", "kind": "RoleBinding", "metadata": metadata(NAME, NAMESPACE, _labels()),
         "roleRef": {"apiGroup": rbac, "kind": "Role", "name": NAME}, "subjects": subject},
    ]  # fmt: skip


def kured_args(window: RebootWindow) -> list[str]:
    """kured's flags (cmd/kured/main.go 1.22.1)."""
    return [
        "/usr/bin/kured",
        # Run in the host's mount namespace (nsenter); exit 0 = reboot (pkg/checkers CommandChecker).
        f"--reboot-sentinel-command={REBOOT_CHECK_PATH}",
        f"--prefer-no-schedule-taint={PREFER_NO_SCHEDULE_TAINT}",
        # Never two nodes at once: with three servers, a second reboot would lose etcd quorum.
        "--concurrency=1",
        "--ds-namespace=" + NAMESPACE,
        "--ds-name=" + NAME,
        f"--reboot-days={','.join(window.days)}",
        f"--start-time={window.start}",
        f"--end-time={window.end}",
        f"--time-zone={window.time_zone}",
        # Checked every 10 min so a three-hour window fits all three nodes with the delays below.
        "--period=10m",
        # A drain blocked by a budget gives up after 30 min (uncordon, lock released, retried later).
        "--drain-timeout=30m",
        # Hold the lock for 5 more minutes after the node is back: its etcd member and pods settle
        # before the next node goes.
        "--lock-release-delay=5m",
        "--force-reboot=false",
        "--annotate-nodes=true",
    ]


def _daemonset(window: RebootWindow) -> Manifest:
    container = {
        "name": NAME,
        "image": KURED_IMAGE,
        "imagePullPolicy": "IfNotPresent",
        # Reboots through `nsenter -m/proc/1/ns/mnt -- systemctl reboot` in the host's PID 1 namespaces.
        "securityContext": {"privileged": True, "readOnlyRootFilesystem": True},
        "ports": [{"containerPort": 8080, "name": "metrics", "protocol": "TCP"}],
        "env": [{"name": "KURED_NODE_ID", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}}],
        "command": kured_args(window),
        "resources": {"requests": {"cpu": "10m", "memory": "32Mi"}, "limits": {"memory": "128Mi"}},
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": metadata(NAME, NAMESPACE, _labels()),
        "spec": {
            "selector": {"matchLabels": {"name": NAME}},
            "updateStrategy": {"type": "RollingUpdate"},
            "template": {
                "metadata": {"labels": {"name": NAME, **_labels()}},
                "spec": {
                    "serviceAccountName": NAME,
                    "tolerations": [
                        {"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"},
                        {"key": "node-role.kubernetes.io/master", "effect": "NoSchedule"},
                    ],
                    "hostPID": True,
                    "restartPolicy": "Always",
                    "containers": [container],
                },
            },
        },
    }


def kured_objects(window: RebootWindow) -> list[Manifest]:
    """ServiceAccount, RBAC and the DaemonSet of kured in kube-system."""
    account = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": metadata(NAME, NAMESPACE, _labels())}
    return [account, *_rbac(), _daemonset(window)]
