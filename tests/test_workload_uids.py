"""App containers run as uids of their own (>= 10000) where the image and its volume allow it."""

from __future__ import annotations

from typing import Any

from components.k8s.redis import redis_objects
from components.k8s.spec import APP_UID, REDIS_UID
from components.k8s.workloads import admin_objects, api_objects, worker_objects
from tests.conftest import load_prod


def _pod_security(objects: list[dict[str, Any]]) -> dict[str, Any]:
    (workload,) = [o for o in objects if o["kind"] in ("Deployment", "StatefulSet")]
    return dict(workload["spec"]["template"]["spec"]["securityContext"])


def _spec() -> Any:
    from components.k8s.apps import apps_spec

    config = load_prod()
    return apps_spec(
        config.apps,
        config.services,
        cluster_cidr=config.k3s.cluster_cidr,
        node_cidrs=(config.nodes.private_network_cidr,),
        tls_secret_name=None,
    )


def test_api_admin_and_worker_run_as_a_high_uid() -> None:
    spec = _spec()
    for build in (api_objects, admin_objects, worker_objects):
        security = _pod_security(build(spec))
        assert security["runAsUser"] == security["runAsGroup"] == APP_UID >= 10000
        assert security["runAsNonRoot"] is True


def test_redis_keeps_the_uid_that_owns_its_data() -> None:
    """Not >= 10000 on purpose: local-path volumes ignore fsGroup (see components/k8s/spec.py)."""
    security = _pod_security(redis_objects(_spec()))
    assert security["runAsUser"] == REDIS_UID == 999 and security["runAsNonRoot"] is True
