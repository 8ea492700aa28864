"""A synthetic large stack: the real stack plus N agents and M more app workloads, for plan_speed.

* Agents go through config: the stack config gets agentCount = N, like `--set agentCount=N`.
* Workloads have no config knob, so each copy is the AppsSpec of prod with another namespace
  (`honeydue-xNN`): its Namespace plus the objects of the `api_objects`, `admin_objects` and
  `worker_objects` builders (ServiceAccount, Deployment, Service, PodDisruptionBudget), registered with
  `create_object` in the phases of `components.k8s.apps`, through the cluster's provider, after
  `components.stack.build` built the real stack. One copy = 3 workloads.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import pulumi

from components.anatomy import child_options
from components.config.load import load_from_pulumi
from components.k8s import manifests
from components.k8s.apps import PHASE_OF, PHASES
from components.k8s.objects import create_object
from components.outputs import export_outputs
from components.stack import build

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


def describe_agents() -> str:
    return "agents through config (agentCount)"


def overrides(agents: int) -> dict[str, int]:
    """Config overrides of the synthetic stack."""
    return {"agentCount": agents} if agents else {}


def program(app_copies: int) -> Callable[[], None]:
    """The real stack (`components.stack.build`, as `__main__.py` runs it), then `app_copies` × 3 more workloads.

    Evaluate it with `overrides(agents)` as the config overrides: the agents come through `agentCount`.
    """

    def run() -> None:
        stack = build(load_from_pulumi())
        export_outputs(stack)
        if not app_copies:
            return
        # The app layer of prod as built, in flexible mode (no TLS objects), under other namespaces.
        spec = replace(stack.apps.spec, tls_secret_name=None)
        opts = pulumi.ResourceOptions(
            providers=[stack.cluster.provider, stack.providers.random], depends_on=[stack.cluster.first_server_ready]
        )
        for copy in range(1, app_copies + 1):
            ns = f"{spec.apps.namespace}-x{copy:02d}"
            ExtraApps(ns, replace(spec, apps=replace(spec.apps, namespace=ns)), opts)

    return run
