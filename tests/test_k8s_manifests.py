"""The Kubernetes layer as data: every production fact, both SSL modes, and no secret value anywhere."""

from __future__ import annotations

import ipaddress
import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.firewall.prefilter import UNPRIVILEGED_PORT_START
from components.firewall.ufw import NODE_SYSCTLS
from components.k8s.manifests import (
    SECRET_KEYS,
    AppsSpec,
    all_objects,
    dockerconfigjson,
    ingress,
    ingress_tls,
    redis_url,
    worker_objects,
)
from components.k8s.redis import REDIS_START
from components.k8s.traefik_values import TRAEFIK_UID, helm_chart_config, traefik_values
from tests.conftest import load_prod
from tests.validators import require_tool

# The prod config (Pulumi.prod.yaml with placeholder secrets), as the program builds the spec from it.
PROD = load_prod()
FLEXIBLE = AppsSpec(
    apps=PROD.apps,
    services=PROD.services,
    cluster_cidr="10.42.0.0/16",
    node_cidrs=("10.0.0.0/16",),
    tls_secret_name=None,
)
STRICT = replace(FLEXIBLE, tls_secret_name="honeydue-origin-tls")
MODES = pytest.mark.parametrize("spec", [FLEXIBLE, STRICT], ids=["flexible", "strict"])
CLOUDFLARE = ("173.245.48.0/20", "103.21.244.0/22", "2400:cb00::/32")
# The name Traefik publishes as the Ingresses' load-balancer status.
HOST = "honeydue.app"
RECOMMENDED = ("name", "instance", "component", "part-of", "managed-by")
WORKLOADS = ("Deployment", "StatefulSet")


def find(objects: list[dict[str, Any]], kind: str, name: str, namespace: str = "honeydue") -> dict[str, Any]:
    hits = [
        o
        for o in objects
        if o["kind"] == kind
        and o["metadata"]["name"] == name
        and o["metadata"].get("namespace", namespace) == namespace
    ]
    assert len(hits) == 1, (kind, name, namespace)
    return hits[0]


def pod_spec(objects: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    spec: dict[str, Any] = find(objects, kind, name)["spec"]["template"]["spec"]
    return spec


def container(objects: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    (only,) = pod_spec(objects, kind, name)["containers"]
    assert isinstance(only, dict)
    return only


def workloads(objects: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    return (o for o in objects if o["kind"] in WORKLOADS)


def matches(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    """Kubernetes label-selector semantics (matchLabels and matchExpressions)."""
    if any(labels.get(k) != v for k, v in selector.get("matchLabels", {}).items()):
        return False
    for expression in selector.get("matchExpressions", []):
        key, op, values = expression["key"], expression["operator"], expression.get("values", [])
        ok = {
            "In": key in labels and labels[key] in values,
            "NotIn": labels.get(key) not in values,
            "Exists": key in labels,
            "DoesNotExist": key not in labels,
        }[op]
        if not ok:
            return False
    return True


# --- every object -----------------------------------------------------------------------------------


@MODES
def test_every_object_is_named_namespaced_and_carries_the_recommended_labels(spec: AppsSpec) -> None:
    for obj in all_objects(spec):
        meta = obj["metadata"]
        assert meta["name"], obj
        if obj["kind"] == "Namespace":
            assert "namespace" not in meta
        else:
            assert meta["namespace"] in (spec.apps.namespace, "kube-system"), obj["kind"]
        for key in RECOMMENDED:
            assert meta["labels"][f"app.kubernetes.io/{key}"], (obj["kind"], meta["name"], key)
        assert meta["labels"]["app.kubernetes.io/part-of"] == "honeydue"
        assert meta["labels"]["app.kubernetes.io/managed-by"] == "pulumi"


@MODES
def test_objects_are_unique_deterministic_and_free_of_yaml_anchors(spec: AppsSpec) -> None:
    objects = all_objects(spec)
    keys = [(o["kind"], o["metadata"].get("namespace"), o["metadata"]["name"]) for o in objects]
    assert len(keys) == len(set(keys))
    assert json.dumps(objects, sort_keys=True) == json.dumps(all_objects(spec), sort_keys=True)
    for obj in objects:
        # An anchor means one Python object appears twice: a later edit of one would change both.
        assert "&id" not in yaml.safe_dump(obj), obj["metadata"]["name"]


@MODES
def test_apply_order_namespace_first_policies_before_pods_ingress_last(spec: AppsSpec) -> None:
    kinds = [o["kind"] for o in all_objects(spec)]
    assert kinds[0] == "Namespace"
    assert kinds[-1] == "Ingress"
    first_workload = min(kinds.index(k) for k in WORKLOADS)
    assert max(i for i, k in enumerate(kinds) if k in ("NetworkPolicy", "Secret", "ConfigMap")) < first_workload
    assert kinds[first_workload] == "StatefulSet"  # redis before its clients


def test_namespace_enforces_pod_security_restricted() -> None:
    labels = all_objects(FLEXIBLE)[0]["metadata"]["labels"]
    for mode in ("enforce", "audit", "warn"):
        assert labels[f"pod-security.kubernetes.io/{mode}"] == "restricted"
    assert labels["pod-security.kubernetes.io/enforce-version"] == "v1.34"


# --- workloads --------------------------------------------------------------------------------------


def test_api_three_spread_replicas_rolling_without_losing_capacity() -> None:
    objects = all_objects(FLEXIBLE)
    deployment = find(objects, "Deployment", "api")
    assert deployment["spec"]["replicas"] == 3
    assert deployment["spec"]["strategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1},
    }
    (spread,) = deployment["spec"]["template"]["spec"]["topologySpreadConstraints"]
    assert spread["topologyKey"] == "kubernetes.io/hostname"
    assert spread["maxSkew"] == 1
    assert spread["whenUnsatisfiable"] == "DoNotSchedule"
    assert spread["nodeTaintsPolicy"] == "Honor"  # a cordoned node must not deadlock the spread
    assert matches(spread["labelSelector"], deployment["spec"]["template"]["metadata"]["labels"])


def test_api_probes_give_first_boot_migrations_240_seconds() -> None:
    api = container(all_objects(FLEXIBLE), "Deployment", "api")
    startup = api["startupProbe"]
    assert startup["failureThreshold"] == 48
    assert startup["failureThreshold"] * startup["periodSeconds"] >= 240
    assert startup["httpGet"]["path"] == "/healthz"
    assert api["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert api["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert api["ports"] == [{"name": "http", "containerPort": 8080, "protocol": "TCP"}]


def test_admin_probes_use_root_path_never_admin_and_startup_threshold_24() -> None:
    objects = all_objects(FLEXIBLE)
    assert find(objects, "Deployment", "admin")["spec"]["replicas"] == 2
    admin = container(objects, "Deployment", "admin")
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert admin[probe]["httpGet"]["path"] == "/", probe
        assert "admin" not in admin[probe]["httpGet"]["path"]
        assert admin[probe]["httpGet"]["port"] == "http"
    assert admin["startupProbe"]["failureThreshold"] == 24
    assert admin["ports"][0]["containerPort"] == 3000
    mounts = {m["mountPath"] for m in admin["volumeMounts"]}
    assert {"/tmp", "/app/.next/cache"} <= mounts  # Next.js writes its cache; the root fs is read-only


@pytest.mark.parametrize("replicas", [1, 3, 7])
def test_worker_is_a_singleton_recreated_never_rolled(replicas: int) -> None:
    apps = replace(FLEXIBLE.apps, api_replicas=replicas, admin_replicas=replicas)
    objects = worker_objects(replace(FLEXIBLE, apps=apps))
    deployment = find(objects, "Deployment", "worker")
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}
    worker = deployment["spec"]["template"]["spec"]["containers"][0]
    assert "ports" not in worker
    assert not {"startupProbe", "readinessProbe", "livenessProbe"} & set(worker)
    assert find(objects, "PodDisruptionBudget", "worker")["spec"]["minAvailable"] == 0


def test_disruption_budgets_keep_api_and_admin_serving_through_a_drain() -> None:
    objects = all_objects(FLEXIBLE)
    budgets = {o["metadata"]["name"]: o["spec"] for o in objects if o["kind"] == "PodDisruptionBudget"}
    assert set(budgets) == {"api", "admin", "worker"}  # none on single-replica redis: it would block drains
    assert budgets["api"]["maxUnavailable"] == 1 and "minAvailable" not in budgets["api"]
    assert budgets["admin"]["maxUnavailable"] == 1
    assert budgets["worker"]["minAvailable"] == 0
    for name, budget in budgets.items():
        template = find(objects, "Deployment", name)["spec"]["template"]
        assert matches(budget["selector"], template["metadata"]["labels"])
        assert budget["unhealthyPodEvictionPolicy"] == "AlwaysAllow"


@MODES
def test_every_pod_is_hardened_and_meets_pod_security_restricted(spec: AppsSpec) -> None:
    objects = all_objects(spec)
    accounts = {o["metadata"]["name"]: o for o in objects if o["kind"] == "ServiceAccount"}
    allowed_volumes = {"configMap", "emptyDir", "projected", "secret", "downwardAPI", "persistentVolumeClaim"}
    for workload in workloads(objects):
        name = workload["metadata"]["name"]
        template = workload["spec"]["template"]
        pod = template["spec"]
        assert matches(workload["spec"]["selector"], template["metadata"]["labels"]), name
        assert pod["automountServiceAccountToken"] is False, name
        assert accounts[pod["serviceAccountName"]]["automountServiceAccountToken"] is False, name
        assert pod["enableServiceLinks"] is False, name
        assert not {"hostNetwork", "hostPID", "hostIPC"} & set(pod), name
        pod_context = pod["securityContext"]
        assert pod_context["runAsNonRoot"] is True and pod_context["runAsUser"] > 0, name
        assert pod_context["seccompProfile"] == {"type": "RuntimeDefault"}, name
        for volume in pod["volumes"]:
            assert set(volume) - {"name"} <= allowed_volumes, (name, volume)
        volume_names = {v["name"] for v in pod["volumes"]} | {
            t["metadata"]["name"] for t in workload["spec"].get("volumeClaimTemplates", [])
        }
        for c in pod["containers"]:
            context = c["securityContext"]
            assert context["allowPrivilegeEscalation"] is False, name
            assert context["privileged"] is False, name
            assert context["readOnlyRootFilesystem"] is True, name
            assert context["runAsNonRoot"] is True, name
            assert context.get("runAsUser", pod_context["runAsUser"]) != 0, name
            assert context["capabilities"] == {"drop": ["ALL"]}, name
            assert context["seccompProfile"] == {"type": "RuntimeDefault"}, name
            assert all("hostPort" not in p for p in c.get("ports", [])), name
            for kind in ("requests", "limits"):
                assert set(c["resources"][kind]) == {"cpu", "memory"}, (name, kind)
            assert {m["name"] for m in c["volumeMounts"]} <= volume_names, name
            assert "/tmp" in {m["mountPath"] for m in c["volumeMounts"]}, name
        if name != "worker":  # the worker's lack of probes is asserted (and explained) on its own
            assert {"startupProbe", "readinessProbe", "livenessProbe"} <= set(pod["containers"][0]), name


@MODES
def test_config_and_secrets_reach_the_apps_by_reference_only(spec: AppsSpec) -> None:
    objects = all_objects(spec)
    configmaps = {o["metadata"]["name"] for o in objects if o["kind"] == "ConfigMap"}
    secrets = {o["metadata"]["name"]: o for o in objects if o["kind"] == "Secret"}
    env_from = {
        name: [next(iter(ref.values()))["name"] for ref in container(objects, "Deployment", name)["envFrom"]]
        for name in ("api", "admin", "worker")
    }
    assert env_from["api"] == env_from["worker"] == ["honeydue-config", "honeydue-app", "honeydue-redis"]
    assert env_from["admin"] == ["honeydue-config", "honeydue-app"]  # admin never sees redis's password
    for workload in workloads(objects):
        pod = workload["spec"]["template"]["spec"]
        for ref in pod.get("imagePullSecrets", []):
            assert secrets[ref["name"]]["type"] == "kubernetes.io/dockerconfigjson"
        for c in pod["containers"]:
            for source in c.get("envFrom", []):
                (kind, ref) = next(iter(source.items()))
                assert ref["name"] in (configmaps if kind == "configMapRef" else secrets)
            for env in c.get("env", []):
                ref = env.get("valueFrom", {}).get("secretKeyRef")
                if ref is not None:
                    assert ref["key"] in secrets[ref["name"]]["stringData"]
    assert {f"honeydue-{n}" for n in ("api", "admin", "worker")}.isdisjoint(secrets)


def strings(node: Any) -> Iterator[str]:
    """Every string (keys and values) in a manifest."""
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for key, value in node.items():
            yield key
            yield from strings(value)
    elif isinstance(node, list):
        for item in node:
            yield from strings(item)


@MODES
def test_no_secret_value_in_any_manifest(spec: AppsSpec) -> None:
    objects = all_objects(spec)
    secret_keys = {key for keys in SECRET_KEYS.values() for key in keys}
    for obj in objects:
        if obj["kind"] == "Secret":
            assert "data" not in obj
            assert set(obj["stringData"].values()) == {""}, obj["metadata"]["name"]
        # No credential-bearing URL (scheme://user:password@host) anywhere.
        assert not [s for s in strings(obj) if "://" in s and "@" in s], obj["metadata"]["name"]
    envs = [
        e for w in workloads(objects) for c in w["spec"]["template"]["spec"]["containers"] for e in c.get("env", [])
    ]
    for env in envs:
        if env["name"] in secret_keys | {"REDISCLI_AUTH"}:
            assert "value" not in env and "secretKeyRef" in env["valueFrom"], env["name"]
    data = next(o for o in objects if o["kind"] == "ConfigMap")["data"]
    assert secret_keys.isdisjoint(data)
    assert all(isinstance(v, str) for v in data.values())
    assert data["SMTP_PORT"] == "587" and data["B2_BUCKET"] == "honeydue-uploads"


def test_secret_shells_name_exactly_the_documented_keys() -> None:
    secrets = {o["metadata"]["name"]: o for o in all_objects(FLEXIBLE) if o["kind"] == "Secret"}
    assert set(secrets) == {*SECRET_KEYS, "honeydue-registry"}
    for name, keys in SECRET_KEYS.items():
        assert secrets[name]["type"] == "Opaque"
        assert tuple(secrets[name]["stringData"]) == keys
    assert tuple(secrets["honeydue-registry"]["stringData"]) == (".dockerconfigjson",)
    assert "DATABASE_URL" in SECRET_KEYS["honeydue-app"] and "REDIS_PASSWORD" in SECRET_KEYS["honeydue-redis"]


def test_tls_secret_exists_in_the_apps_namespace_and_traefiks_only_in_full_or_strict() -> None:
    assert not [o for o in all_objects(FLEXIBLE) if o.get("type") == "kubernetes.io/tls"]
    tls = [o for o in all_objects(STRICT) if o.get("type") == "kubernetes.io/tls"]
    assert {o["metadata"]["namespace"] for o in tls} == {"honeydue", "kube-system"}
    assert {o["metadata"]["name"] for o in tls} == {"honeydue-origin-tls"}
    assert all(tuple(o["stringData"]) == ("tls.crt", "tls.key") for o in tls)


def test_helpers_the_component_applies_over_secret_outputs() -> None:
    assert redis_url("abc123", "honeydue") == "redis://:abc123@redis.honeydue.svc.cluster.local:6379/0"
    assert redis_url("a/b@c", "honeydue").startswith("redis://:a%2Fb%40c@")
    config = json.loads(dockerconfigjson("ghcr.io", "honeydue-deploy", "tok"))
    assert config["auths"]["ghcr.io"]["auth"] == "aG9uZXlkdWUtZGVwbG95OnRvaw=="  # base64("honeydue-deploy:tok")


# --- redis ------------------------------------------------------------------------------------------


def test_redis_persists_an_append_only_file_on_a_hetzner_cloud_volume() -> None:
    objects = all_objects(FLEXIBLE)
    statefulset = find(objects, "StatefulSet", "redis")
    assert statefulset["spec"]["replicas"] == 1
    (claim,) = statefulset["spec"]["volumeClaimTemplates"]
    assert claim["spec"]["storageClassName"] == "hcloud-volumes-retain"
    # Not "data": the local-path era's PVC data-redis-0 would be adopted by name and keep redis on the node.
    assert claim["metadata"]["name"] == "hcloud-data"
    assert claim["spec"]["resources"]["requests"]["storage"] == FLEXIBLE.apps.redis_storage_size
    redis = statefulset["spec"]["template"]["spec"]["containers"][0]
    assert {"name": claim["metadata"]["name"], "mountPath": "/data"} in redis["volumeMounts"]
    script = redis["args"][0]
    assert "--appendonly yes" in script and "--appendfsync everysec" in script and "--dir /data" in script
    service = find(objects, "Service", "redis")
    assert service["spec"]["clusterIP"] == "None" and statefulset["spec"]["serviceName"] == "redis"
    assert matches({"matchLabels": service["spec"]["selector"]}, statefulset["spec"]["template"]["metadata"]["labels"])


def test_redis_password_comes_from_the_secret_and_never_from_a_command_line() -> None:
    redis = container(all_objects(FLEXIBLE), "StatefulSet", "redis")
    refs = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in redis["env"]}
    assert refs == {n: {"name": "honeydue-redis", "key": "REDIS_PASSWORD"} for n in ("REDIS_PASSWORD", "REDISCLI_AUTH")}
    assert "requirepass" not in " ".join(redis["command"])
    assert "--requirepass" not in redis["args"][0] and "$(REDIS_PASSWORD)" not in redis["args"][0]
    for probe in ("startupProbe", "readinessProbe"):
        command = " ".join(redis[probe]["exec"]["command"])
        assert "ping" in command and "PONG" in command and "-a " not in command


def test_redis_start_script_passes_shellcheck(tmp_path: Path) -> None:
    script = tmp_path / "redis-start.sh"
    script.write_text("#!/bin/sh\n" + REDIS_START)
    run = subprocess.run([require_tool("shellcheck"), "-s", "sh", str(script)], capture_output=True, text=True)
    assert run.returncode == 0, run.stdout


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _command_lines() -> list[bytes]:
    lines = []
    for path in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            lines.append(path.read_bytes())
        except OSError:  # the process ended meanwhile
            continue
    return lines


def test_redis_start_script_and_probe_against_a_real_redis(tmp_path: Path) -> None:
    """Runs the manifest's own start script and probe with the real redis-server (skips without it)."""
    require_tool("redis-server")
    require_tool("redis-cli")
    redis = container(all_objects(FLEXIBLE), "StatefulSet", "redis")
    port, password = _free_port(), "Pw0rdForTheTest0nly"
    script = redis["args"][0].replace("6379", str(port)).replace("/data", str(tmp_path))
    probe = redis["readinessProbe"]["exec"]["command"][2].replace("6379", str(port))
    env = {"PATH": os.environ["PATH"], "REDIS_PASSWORD": password}
    refused = subprocess.run(["sh", "-c", script], env=env | {"REDIS_PASSWORD": ""}, capture_output=True, timeout=10)
    assert refused.returncode == 1 and b"REDIS_PASSWORD is empty" in refused.stderr
    server = subprocess.Popen(["sh", "-c", script], env=env, start_new_session=True)
    try:
        auth = env | {"REDISCLI_AUTH": password}
        for _ in range(50):
            if subprocess.run(["sh", "-c", probe], env=auth, timeout=5).returncode == 0:
                break
            time.sleep(0.1)
        else:
            pytest.fail("redis never answered the readiness probe")
        assert not [c for c in _command_lines() if password.encode() in c], "the password is on a command line"
        wrong = subprocess.run(["sh", "-c", probe], env=env | {"REDISCLI_AUTH": "wrong"}, timeout=5)
        assert wrong.returncode != 0  # redis-cli itself exits 0 on NOAUTH: the probe must not
        config = subprocess.run(
            ["redis-cli", "-p", str(port), "config", "get", "append*"], env=auth, capture_output=True, text=True
        ).stdout.split()
        assert {"appendonly": "yes", "appendfsync": "everysec"}.items() <= dict(
            zip(config[::2], config[1::2], strict=True)
        ).items()
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=10)
    assert (tmp_path / "appendonlydir").is_dir()


# --- ingress ----------------------------------------------------------------------------------------


@MODES
def test_ingress_routes_apex_www_and_api_to_api_and_admin_to_admin(spec: AppsSpec) -> None:
    objects = all_objects(spec)
    route = ingress(spec)
    assert route["spec"]["ingressClassName"] == "traefik"
    backends = {}
    for rule in route["spec"]["rules"]:
        (path,) = rule["http"]["paths"]
        assert (path["path"], path["pathType"]) == ("/", "Prefix")
        backend = path["backend"]["service"]
        backends[rule["host"]] = backend["name"]
        service = find(objects, "Service", backend["name"])
        assert backend["port"]["name"] in {p["name"] for p in service["spec"]["ports"]}
    assert backends == {
        "honeydue.app": "api",
        "www.honeydue.app": "api",
        "api.honeydue.app": "api",
        "admin.honeydue.app": "admin",
    }


def test_flexible_mode_has_no_tls_block_and_routes_on_web() -> None:
    route = ingress(FLEXIBLE)
    assert "tls" not in route["spec"]
    assert route["metadata"]["annotations"] == {"traefik.ingress.kubernetes.io/router.entrypoints": "web"}
    assert ingress_tls(FLEXIBLE) == []


def test_full_or_strict_mode_serves_every_host_with_the_origin_certificate_on_websecure() -> None:
    (route,) = ingress_tls(STRICT)
    (tls,) = route["spec"]["tls"]
    assert tls["secretName"] == "honeydue-origin-tls"
    assert set(tls["hosts"]) == {rule["host"] for rule in route["spec"]["rules"]}
    assert route["metadata"]["annotations"]["traefik.ingress.kubernetes.io/router.entrypoints"] == "websecure"
    assert route["metadata"]["annotations"]["traefik.ingress.kubernetes.io/router.tls"] == "true"


def test_the_http_routes_stay_in_every_mode_so_a_mode_switch_never_drops_a_scheme() -> None:
    assert ingress(STRICT) == ingress(FLEXIBLE)
    assert ingress_tls(STRICT)[0]["spec"]["rules"] == ingress(STRICT)["spec"]["rules"]


# --- network policies: the flows, evaluated with NetworkPolicy semantics ---------------------------

Endpoint = tuple[str, dict[str, str], str]  # namespace, pod labels ({} for a non-pod), IP address


def _pod(objects: list[dict[str, Any]], name: str, ip: str) -> Endpoint:
    labels = next(w for w in workloads(objects) if w["metadata"]["name"] == name)["spec"]["template"]["metadata"]
    return ("honeydue", labels["labels"], ip)


def _peer_matches(peer: dict[str, Any], endpoint: Endpoint) -> bool:
    namespace, labels, ip = endpoint
    if "ipBlock" in peer:
        block = peer["ipBlock"]
        address = ipaddress.ip_address(ip)
        return address in ipaddress.ip_network(block["cidr"]) and not any(
            address in ipaddress.ip_network(c) for c in block.get("except", [])
        )
    if not labels:
        return False
    if "namespaceSelector" in peer:
        if not matches(peer["namespaceSelector"], {"kubernetes.io/metadata.name": namespace}):
            return False
    elif namespace != "honeydue":
        return False
    return matches(peer.get("podSelector", {}), labels)


def _allows(
    policies: list[dict[str, Any]], direction: str, me: Endpoint, peer: Endpoint, port: int, proto: str
) -> bool:
    """Is `me` isolated for `direction`, and if so does some rule admit `peer` on port/proto?"""
    if me[0] != "honeydue" or not me[1]:
        return True  # not governed by these policies
    key, peers = ("ingress", "from") if direction == "Ingress" else ("egress", "to")
    selecting = [p["spec"] for p in policies if matches(p["spec"]["podSelector"], me[1])]
    selecting = [s for s in selecting if direction in s["policyTypes"]]
    if not selecting:
        return True
    for spec in selecting:
        for rule in spec.get(key, []):
            port_ok = not rule.get("ports") or any(
                p["port"] == port and p.get("protocol", "TCP") == proto for p in rule["ports"]
            )
            peer_ok = not rule.get(peers) or any(_peer_matches(x, peer) for x in rule[peers])
            if port_ok and peer_ok:
                return True
    return False


def flow(objects: list[dict[str, Any]], src: Endpoint, dst: Endpoint, port: int, proto: str = "TCP") -> bool:
    policies = [o for o in objects if o["kind"] == "NetworkPolicy"]
    return _allows(policies, "Egress", src, dst, port, proto) and _allows(policies, "Ingress", dst, src, port, proto)


def test_network_policies_allow_exactly_the_real_flows() -> None:
    objects = all_objects(FLEXIBLE)
    api, admin = _pod(objects, "api", "10.42.1.10"), _pod(objects, "admin", "10.42.1.11")
    worker, redis = _pod(objects, "worker", "10.42.2.10"), _pod(objects, "redis", "10.42.3.10")
    dns: Endpoint = ("kube-system", {"k8s-app": "kube-dns"}, "10.42.0.5")
    other_ns: Endpoint = ("default", {"app": "x"}, "10.42.2.99")
    traefik_remote: Endpoint = ("kube-system", {}, "10.42.2.0")  # hostNetwork: the node's flannel address
    traefik_private: Endpoint = ("kube-system", {}, "10.0.1.2")  # hostNetwork: the node's private address
    internet: Endpoint = ("", {}, "203.0.113.10")  # Neon, B2, Fastmail: public addresses
    node: Endpoint = ("", {}, "10.0.1.3")
    metadata: Endpoint = ("", {}, "169.254.169.254")

    assert flow(objects, traefik_remote, api, 8080) and flow(objects, traefik_private, api, 8080)
    assert flow(objects, traefik_remote, admin, 3000) and flow(objects, traefik_private, admin, 3000)
    assert not flow(objects, internet, api, 8080)
    assert not flow(objects, traefik_remote, redis, 6379)
    assert flow(objects, admin, api, 8080)
    assert flow(objects, api, redis, 6379) and flow(objects, worker, redis, 6379)
    assert not flow(objects, admin, redis, 6379)
    # Redis's own ingress rule refuses admin too, not only admin's egress rule.
    policies = [o for o in objects if o["kind"] == "NetworkPolicy"]
    assert not _allows(policies, "Ingress", redis, admin, 6379, "TCP")
    assert not flow(objects, other_ns, redis, 6379)
    assert not flow(objects, redis, api, 8080)
    for pod in (api, admin, worker, redis):
        assert flow(objects, pod, dns, 53, "UDP") and flow(objects, pod, dns, 53, "TCP")
    for pod in (api, worker):
        for port in (5432, 587, 443):
            assert flow(objects, pod, internet, port), port
    assert flow(objects, admin, internet, 443) and not flow(objects, admin, internet, 5432)
    for pod in (api, admin, worker, redis):
        assert not flow(objects, pod, internet, 6379)
        assert not flow(objects, pod, metadata, 443) and not flow(objects, pod, metadata, 80)
        assert not flow(objects, pod, node, 10250) and not flow(objects, pod, node, 2379)
    assert not flow(objects, redis, internet, 443)


def test_default_deny_covers_ingress_and_egress_of_every_pod() -> None:
    policies = [o for o in all_objects(FLEXIBLE) if o["kind"] == "NetworkPolicy"]
    deny = next(p for p in policies if p["metadata"]["name"] == "default-deny")["spec"]
    assert deny == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}


# --- Traefik ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("tls", [None, "honeydue-origin-tls"])
def test_traefik_is_a_host_network_daemonset_that_can_roll(tls: str | None) -> None:
    values = traefik_values(CLOUDFLARE, tls, ingress_hostname=HOST)
    assert values["deployment"] == {"kind": "DaemonSet", "dnsPolicy": "ClusterFirstWithHostNet"}
    assert values["hostNetwork"] is True
    assert values["updateStrategy"] == {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}}
    assert values["service"] == {"type": "ClusterIP"}
    ports = values["ports"]
    assert (ports["web"]["port"], ports["websecure"]["port"]) == (80, 443)
    assert all("hostPort" not in p for p in ports.values())
    assert ports["traefik"]["expose"] == {"default": False} and ports["metrics"]["expose"] == {"default": False}
    assert values["ingressRoute"]["dashboard"]["enabled"] is False and values["api"]["dashboard"] is False
    context = values["securityContext"]
    assert context["capabilities"] == {"drop": ["ALL"]}
    assert context["allowPrivilegeEscalation"] is False and context["readOnlyRootFilesystem"] is True
    # Non-root: in the host network only uid 0 reaches the metadata service (components/firewall/prefilter.py),
    # and the node lets any uid bind from 80 up, which covers both entrypoints and nothing below them.
    pod = values["podSecurityContext"]
    assert pod["runAsNonRoot"] is True and pod["runAsUser"] == pod["runAsGroup"] == TRAEFIK_UID > 0
    assert min(ports["web"]["port"], ports["websecure"]["port"]) >= UNPRIVILEGED_PORT_START
    assert f"net.ipv4.ip_unprivileged_port_start={UNPRIVILEGED_PORT_START}" in NODE_SYSCTLS
    assert UNPRIVILEGED_PORT_START > 22  # sshd's port stays privileged


def test_traefik_trusts_forwarded_headers_only_from_cloudflare() -> None:
    ports = traefik_values(CLOUDFLARE, None, ingress_hostname=HOST)["ports"]
    ordered = ["103.21.244.0/22", "173.245.48.0/20", "2400:cb00::/32"]  # by family, then address
    for entrypoint in ("web", "websecure"):
        assert ports[entrypoint]["forwardedHeaders"] == {"trustedIPs": ordered, "insecure": False}
        assert "proxyProtocol" not in ports[entrypoint]
    # Issue 25 item 6: Cloudflare publishing the same ranges in another order (or one twice) changes nothing,
    # so Traefik's HelmChartConfig stays as it is and no node's Traefik restarts.
    shuffled = (CLOUDFLARE[2], CLOUDFLARE[0], CLOUDFLARE[1], CLOUDFLARE[0])
    assert traefik_values(shuffled, None, ingress_hostname=HOST) == traefik_values(
        CLOUDFLARE, None, ingress_hostname=HOST
    )
    with pytest.raises(ValueError, match="Cloudflare"):
        traefik_values([], None, ingress_hostname=HOST)
    with pytest.raises(ValueError):
        traefik_values(["173.245.48.0/33"], None, ingress_hostname=HOST)


def test_traefik_default_certificate_only_in_full_or_strict() -> None:
    assert "tlsStore" not in traefik_values(CLOUDFLARE, None, ingress_hostname=HOST)
    store = traefik_values(CLOUDFLARE, "honeydue-origin-tls", ingress_hostname=HOST)["tlsStore"]
    assert store == {"default": {"defaultCertificate": {"secretName": "honeydue-origin-tls"}}}
    assert "kube-system" in (traefik_values.__doc__ or "")


@pytest.mark.parametrize("tls", [None, "honeydue-origin-tls"])
def test_helm_chart_config_overrides_k3s_traefik_with_the_values_as_yaml(tls: str | None) -> None:
    config = helm_chart_config(CLOUDFLARE, tls, ingress_hostname=HOST)
    assert (config["apiVersion"], config["kind"]) == ("helm.cattle.io/v1", "HelmChartConfig")
    assert (config["metadata"]["name"], config["metadata"]["namespace"]) == ("traefik", "kube-system")
    content = config["spec"]["valuesContent"]
    assert yaml.safe_load(content) == traefik_values(CLOUDFLARE, tls, ingress_hostname=HOST)
    assert "&id" not in content
    assert content == helm_chart_config(CLOUDFLARE, tls, ingress_hostname=HOST)["spec"]["valuesContent"]
