"""A synthetic large stack: the real program plus N agents and M more app workloads, for plan_speed.

There is no agent pool in the stack config and no way to add workloads through config, so this
benchmark-local program variant builds them from the real program and components, changing nothing in
either:

* Agents go through config when Pulumi.yaml declares `agentCount` (the agent pool): the stack config
  gets agentCount = N, like `--set agentCount=N`. Without that key, agents are modelled as extra nodes
  through the same components: the config `__main__.py` loads is replaced (dataclasses.replace, after
  validation) by one with `serverCount` = 3 + N, so every agent is a Hetzner server of `Nodes` with its
  host key and cloud-init, a member of `K3sCluster` (it joins as a server, after the one before it),
  a `FirewallSync` target and a target of every `EdgeDns` record.
* More workloads go through the same app model as api/admin/worker: each copy is the AppsSpec of
  prod with another namespace (`honeydue-xNN`), and its Namespace plus the objects of the
  `api_objects`, `admin_objects` and `worker_objects` builders (ServiceAccount, Deployment, Service,
  PodDisruptionBudget) are registered with `create_object`, ordered in the phases of `components.k8s.apps`,
  through the cluster's provider. One copy = 3 workloads.
"""

from __future__ import annotations

import runpy
from collections.abc import Callable
from dataclasses import replace
from typing import Any
from unittest import mock

import pulumi

import components.config
from components.anatomy import child_options
from components.config.model import StackConfig
from components.k3s.cluster import K3sCluster
from components.k8s import manifests
from components.k8s.apps import PHASE_OF, PHASES, apps_spec
from components.k8s.objects import create_object
from components.providers import Providers
from offline.harness import PROGRAM, declared_config

WORKLOADS_PER_COPY = 3


class ExtraApps(pulumi.ComponentResource):
    """api, admin and worker of one more AppsSpec (another namespace), as `components.k8s.apps` registers them."""

    def __init__(self, name: str, spec: manifests.AppsSpec, opts: pulumi.ResourceOptions) -> None:
        super().__init__("honeydue:bench:ExtraApps", name, None, opts)
        waits_for: dict[str, list[pulumi.Resource]] = {phase: [] for phase in PHASES}
        objects = [
            manifests.namespace(spec),
            *manifests.api_objects(spec),
            *manifests.admin_objects(spec),
            *manifests.worker_objects(spec),
        ]
        for manifest in objects:
            phase = PHASE_OF.get(manifest["kind"], "setup")
            resource = create_object(manifest, child_options(self, opts, depends_on=waits_for[phase]))
            for later in PHASES[PHASES.index(phase) + 1 :]:
                waits_for[later].append(resource)
        self.register_outputs({})


def _one(namespace: dict[str, Any], kind: type) -> Any:
    found = [v for v in namespace.values() if isinstance(v, kind)]
    if len(found) != 1:
        raise RuntimeError(f"__main__.py defines {len(found)} {kind.__name__}; the benchmark expects one")
    return found[0]


def agents_through_config() -> bool:
    """The stack config has an agent pool (`agentCount`)."""
    return "agentCount" in declared_config()


def describe_agents() -> str:
    if agents_through_config():
        return "agents through config (agentCount)"
    return "agents modelled as extra nodes through the same components (serverCount + N, after validation)"


def overrides(agents: int) -> dict[str, Any]:
    """Config overrides of the synthetic stack."""
    return {"agentCount": agents} if agents and agents_through_config() else {}


def program(agents: int, app_copies: int) -> Callable[[], None]:
    """The real `__main__.py` with `agents` more nodes, then `app_copies` × 3 more workloads.

    Evaluate it with `overrides(agents)` as the config overrides.
    """
    extra_servers = 0 if agents_through_config() else agents

    def run() -> None:
        real_load = components.config.load.load_from_pulumi

        def load() -> StackConfig:
            config = real_load()
            nodes = replace(config.nodes, server_count=config.nodes.server_count + extra_servers)
            return replace(config, nodes=nodes)

        # __main__.py imports load_from_pulumi by name when it runs, so it picks this one up.
        with mock.patch.object(components.config.load, "load_from_pulumi", load):
            namespace = runpy.run_path(str(PROGRAM), run_name="__main__")
        if not app_copies:
            return
        config: StackConfig = _one(namespace, StackConfig)
        cluster: K3sCluster = _one(namespace, K3sCluster)
        providers: Providers = _one(namespace, Providers)
        spec = apps_spec(
            config.apps,
            config.services,
            cluster_cidr=config.k3s.cluster_cidr,
            node_cidrs=(config.nodes.private_network_cidr,),
            tls_secret_name=None,
        )
        opts = pulumi.ResourceOptions(
            providers=[cluster.provider, providers.random], depends_on=[cluster.first_server_ready]
        )
        for copy in range(1, app_copies + 1):
            ns = f"{spec.apps.namespace}-x{copy:02d}"
            ExtraApps(ns, replace(spec, apps=replace(spec.apps, namespace=ns)), opts)

    return run
