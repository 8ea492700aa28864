"""The components that keep data and nodes healthy: `Storage` (the hcloud CSI driver and the
StorageClass Redis's volume comes from) and `Maintenance` (kured, Redis snapshots to B2)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi

from components.anatomy import child_options
from components.config.model import Secret
from components.k8s import kured, redis_backup, storage
from components.k8s.objects import create_object
from components.k8s.spec import AppsSpec, Manifest

# Apply order inside a component: what pods read (Secrets, accounts, RBAC, config), then what runs.
# The StorageClass goes first with no wait: a claim made before the driver runs stays Pending until the
# provisioner sidecar starts and picks it up (WaitForFirstConsumer), so the apps need not wait for the
# driver's rollout.
_RUNS = {"DaemonSet", "Deployment", "Service", "CronJob"}


def _register(
    owner: pulumi.ComponentResource,
    opts: pulumi.ResourceOptions | None,
    manifests: Sequence[Manifest],
    secret_values: Mapping[str, Mapping[str, pulumi.Input[str]]],
) -> dict[str, pulumi.CustomResource]:
    """Registers manifests in two phases; Secrets get their values by name."""
    phases: list[list[pulumi.Resource]] = [[], []]
    objects: dict[str, pulumi.CustomResource] = {}
    for manifest in manifests:
        kind, meta = manifest["kind"], manifest["metadata"]
        phase = 1 if kind in _RUNS else 0
        waits = [r for earlier in phases[:phase] for r in earlier]
        values = secret_values.get(meta["name"]) if kind == "Secret" else None
        resource = create_object(manifest, child_options(owner, opts, depends_on=waits), values)
        objects[f"{kind}/{meta.get('namespace', '')}/{meta['name']}"] = resource
        phases[phase].append(resource)
    return objects


@dataclass(frozen=True, kw_only=True)
class StorageArgs:
    csi_token: Secret
    """The Hetzner token the CSI controller creates, attaches and resizes volumes with."""
    location: str
    """The nodes' Hetzner location: where volumes are created (all nodes share it)."""


class Storage(pulumi.ComponentResource):
    """The hcloud CSI driver (pinned release manifest) with its token Secret, and the Retain StorageClass."""

    storage_class: pulumi.CustomResource
    """Redis's claim names it; the Apps component waits for it."""
    objects: dict[str, pulumi.CustomResource]

    def __init__(self, name: str, args: StorageArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("honeydue:storage:Storage", name, None, opts)
        values = {storage.CSI_SECRET: {storage.CSI_SECRET_KEY: args.csi_token.output()}}
        self.objects = _register(self, opts, storage.storage_objects(args.location), values)
        self.storage_class = self.objects[f"StorageClass//{storage.STORAGE_CLASS}"]
        self.register_outputs(
            {"csiVersion": storage.CSI_VERSION, "storageClass": storage.STORAGE_CLASS, "objects": sorted(self.objects)}
        )


@dataclass(frozen=True, kw_only=True)
class MaintenanceArgs:
    spec: AppsSpec
    """The app layer (namespace, Redis image, networks) the backup job is built against."""
    window: kured.RebootWindow
    """When kured may reboot nodes."""
    backup: redis_backup.BackupSpec | None
    """Where Redis snapshots go; None when no off-site bucket is configured."""
    backup_key: tuple[Secret, Secret] | None
    """The backup job's own B2 key (id, application key), restricted to its folder: never the etcd snapshot
    key, which stays with K3s (whoever can create pods in the apps' namespace can read this one, and a
    versioned delete on B2 is permanent). Required exactly when backup is set."""


class Maintenance(pulumi.ComponentResource):
    """kured in kube-system and, with an off-site bucket, the Redis backup CronJob in the app namespace."""

    objects: dict[str, pulumi.CustomResource]

    def __init__(self, name: str, args: MaintenanceArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("honeydue:maintenance:Maintenance", name, None, opts)
        if (args.backup is None) != (args.backup_key is None):
            raise ValueError("backup_key is required exactly when backup is set")
        manifests: list[Manifest] = kured.kured_objects(args.window)
        values: dict[str, Mapping[str, Any]] = {}
        if args.backup is not None and args.backup_key is not None:
            manifests += redis_backup.backup_objects(args.spec, args.backup)
            access, secret = redis_backup.SECRET_KEYS
            values[redis_backup.SECRET] = {
                access: args.backup_key[0].output(),
                secret: args.backup_key[1].output(),
            }
        self.objects = _register(self, opts, manifests, values)
        self.register_outputs(
            {"kuredVersion": kured.KURED_VERSION, "backup": args.backup is not None, "objects": sorted(self.objects)}
        )
