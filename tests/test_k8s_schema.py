"""Every built Kubernetes object validates against the Kubernetes 1.34 strict schemas, offline.

`kubernetes-validate -k 1.34.0 --strict` with the schemas shipped inside the package (no network).
The CLI only warns, with exit code 0, about a kind it has no schema for: so the tests also count one
`passed` line per object, or a typo'd kind would slip through as a warning.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.k8s.manifests import AppsSpec, all_objects
from components.k8s.traefik_values import helm_chart_config
from tests.test_k8s_manifests import CLOUDFLARE, FLEXIBLE, HOST, STRICT
from tests.traefik_crd import crd_problems

K8S_VERSION = "1.34.0"


def validate(files: list[Path]) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "kubernetes_validate", "-k", K8S_VERSION, "--strict", *map(str, files)]
    return subprocess.run(command, capture_output=True, text=True, timeout=300)


def dump(objects: list[dict[str, Any]], directory: Path) -> list[Path]:
    files = []
    for index, obj in enumerate(objects):
        meta = obj["metadata"]
        path = directory / f"{index:02d}-{obj['kind'].lower()}-{meta.get('namespace', '_')}-{meta['name']}.yaml"
        path.write_text(yaml.safe_dump(obj, sort_keys=False))
        files.append(path)
    return files


def test_the_1_34_strict_schemas_ship_inside_the_package() -> None:
    schemas = resources.files("kubernetes_validate") / "kubernetes-json-schema" / f"v{K8S_VERSION}-local-strict"
    for kind in ("deployment-apps-v1", "statefulset-apps-v1", "networkpolicy-networking-v1", "ingress-networking-v1"):
        assert (schemas / f"{kind}.json").is_file(), kind


@pytest.mark.parametrize("spec", [FLEXIBLE, STRICT], ids=["flexible", "strict"])
def test_every_object_validates_against_kubernetes_1_34_strict(spec: AppsSpec, tmp_path: Path) -> None:
    objects = all_objects(spec)
    run = validate(dump(objects, tmp_path))
    problems = [line for line in run.stdout.splitlines() if not line.startswith("INFO ")]
    assert run.returncode == 0 and not problems, "\n".join(problems) or run.stderr
    passed = [line for line in run.stdout.splitlines() if f"against version {K8S_VERSION[:4]}" in line]
    assert len(passed) == len(objects)


def test_strict_validation_rejects_an_unknown_field(tmp_path: Path) -> None:
    """The control: the same run fails on a misspelt field, so a pass above means something."""
    deployment = next(o for o in all_objects(FLEXIBLE) if o["kind"] == "Deployment")
    deployment["spec"]["template"]["spec"]["containers"][0]["readinesProbe"] = {}
    run = validate(dump([deployment], tmp_path))
    assert run.returncode != 0 and "readinesProbe" in run.stdout


def test_a_different_replica_count_still_validates(tmp_path: Path) -> None:
    objects = all_objects(replace(FLEXIBLE, apps=replace(FLEXIBLE.apps, api_replicas=1, admin_replicas=5)))
    assert validate(dump(objects, tmp_path)).returncode == 0


@pytest.mark.parametrize("tls", [None, "honeydue-origin-tls"])
def test_helm_chart_config_is_a_crd_so_its_values_are_checked_instead(tls: str | None) -> None:
    """HelmChartConfig (helm.cattle.io/v1) is K3s's CRD: the Kubernetes schemas have no entry for it,
    so kubernetes-validate would only warn. Its payload, valuesContent, is checked here instead."""
    config = helm_chart_config(CLOUDFLARE, tls, ingress_hostname=HOST)
    assert set(config) == {"apiVersion", "kind", "metadata", "spec"}
    assert set(config["spec"]) == {"valuesContent"}
    values = yaml.safe_load(config["spec"]["valuesContent"])
    expected = {"deployment", "hostNetwork", "updateStrategy", "service", "ports", "securityContext", "ingressRoute"}
    assert expected <= set(values)
    assert {"web", "websecure", "traefik", "metrics"} <= set(values["ports"])
    assert ("tlsStore" in values) == (tls is not None)


@pytest.mark.parametrize("mode", ["flexible", "strict"])
def test_the_plan_k8s_directory_validates_as_the_program_renders_it(mode: str, tmp_path: Path) -> None:
    """Run over build/plan/k8s/ as `make plan` writes it: the program's objects, not just the builders'."""
    from offline.harness import run_program
    from offline.plan import write_plan

    write_plan(run_program("prod", {"sslMode": mode}), tmp_path, render_graph=False)
    rendered = sorted((tmp_path / "k8s").glob("*.yaml"))
    # Traefik's Middlewares are custom resources: checked against Traefik's CRD instead (tests/traefik_crd.py).
    middlewares = [p for p in rendered if "--middleware--" in p.name]
    assert len(middlewares) == 2
    assert [crd_problems(yaml.safe_load(p.read_text())) for p in middlewares] == [[], []]
    files = [p for p in rendered if "helmchartconfig" not in p.name and p not in middlewares]
    assert len(files) >= 25
    run = validate(files)
    problems = [line for line in run.stdout.splitlines() if not line.startswith("INFO ")]
    assert run.returncode == 0 and not problems, "\n".join(problems) or run.stderr
    for path in files:
        if "--secret--" in path.name:
            document = yaml.safe_load(path.read_text())
            if document["type"] == "kubernetes.io/service-account-token":
                # The token controller fills it: the program sends no data at all.
                assert "stringData" not in document and "data" not in document, path.name
                continue
            assert set(document["stringData"].values()) == {"[secret]"}, path.name


# --- Traefik's TLSOption (issue 25 item 2), a CRD the Kubernetes schemas do not have ---------------------------

TLSOPTION_CRD = Path(__file__).parent / "fixtures" / "crds" / "traefik.io_tlsoptions.yaml"
# The keys traefik-helm-chart v39.0.5 templates/tlsoption.yaml copies from a `tlsOptions` entry (the chart K3s
# v1.34.6 bundles); any other key is dropped without a word, so a misspelt `clientAuth` would leave the option open.
TLSOPTION_TEMPLATE_KEYS = frozenset(
    {"labels", "alpnProtocols", "cipherSuites", "clientAuth", "curvePreferences", "disableSessionTickets",
     "maxVersion", "minVersion", "sniStrict"}
)  # fmt: skip


def rendered_tls_options(values: dict[str, Any]) -> list[dict[str, Any]]:
    """What the chart's templates/tlsoption.yaml makes of `tlsOptions`: one TLSOption per entry in Traefik's
    namespace, the template's keys only (`labels` into metadata). Fails on a key the template would drop."""
    found = []
    for name, config in values.get("tlsOptions", {}).items():
        dropped = set(config) - TLSOPTION_TEMPLATE_KEYS
        assert not dropped, f"tlsOptions.{name}: the chart's template drops {sorted(dropped)}"
        spec = {k: v for k, v in config.items() if k != "labels" and v not in (None, "", [], {}, False)}
        metadata = {"name": name, "namespace": "kube-system", "labels": {"app.kubernetes.io/name": "traefik"}}
        found.append({"apiVersion": "traefik.io/v1alpha1", "kind": "TLSOption", "metadata": metadata, "spec": spec})
    return found


def _strict(schema: dict[str, Any]) -> dict[str, Any]:
    """The CRD's structural schema with unknown fields refused, as `kubectl apply --validate=strict` does (the API
    server would otherwise prune them silently)."""
    out = {k: _strict(v) if isinstance(v, dict) and k != "properties" else v for k, v in schema.items()}
    if "properties" in schema:
        out["properties"] = {k: _strict(v) for k, v in schema["properties"].items()}
        out.setdefault("additionalProperties", False)
    if isinstance(schema.get("items"), dict):
        out["items"] = _strict(schema["items"])
    return out


def tls_option_problems(document: dict[str, Any]) -> list[str]:
    import jsonschema  # type: ignore[import-untyped]  # locked through check-jsonschema, which has no stubs

    (crd,) = [d for d in yaml.safe_load_all(TLSOPTION_CRD.read_text()) if d]
    (version,) = [v for v in crd["spec"]["versions"] if v["name"] == document["apiVersion"].split("/")[1]]
    assert crd["spec"]["group"] == document["apiVersion"].split("/")[0] and crd["spec"]["names"]["kind"] == "TLSOption"
    schema = _strict(version["schema"]["openAPIV3Schema"])
    schema["properties"]["metadata"] = {"type": "object"}  # ObjectMeta: checked by the API server, not the CRD
    validator = jsonschema.Draft7Validator(schema)
    return [f"{'.'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(document)]


@pytest.mark.parametrize(
    ("required", "auth_type"), [(False, "RequestClientCert"), (True, "RequireAndVerifyClientCert")]
)
def test_the_tls_option_the_chart_renders_validates_against_the_bundled_crd(required: bool, auth_type: str) -> None:
    config = helm_chart_config(
        CLOUDFLARE,
        "honeydue-origin-tls",
        ingress_hostname=HOST,
        client_ca_secret="pull-ca",
        client_auth_required=required,
    )
    (option,) = rendered_tls_options(yaml.safe_load(config["spec"]["valuesContent"]))
    assert option["metadata"]["name"] == "default"  # replaces Traefik's default options for every router
    assert option["spec"] == {"clientAuth": {"secretNames": ["pull-ca"], "clientAuthType": auth_type}}
    assert tls_option_problems(option) == []


def test_the_crd_check_refuses_a_misspelt_field_and_an_unknown_client_auth_type() -> None:
    """The control: a pass above means something."""
    misspelt = {"secretNames": ["x"], "clientAuthTyp": "RequireAndVerifyClientCert"}
    option = {"apiVersion": "traefik.io/v1alpha1", "kind": "TLSOption", "metadata": {"name": "default"},
              "spec": {"clientAuth": misspelt}}  # fmt: skip
    assert any("clientAuthTyp" in p for p in tls_option_problems(option))
    option["spec"] = {"clientAuth": {"secretNames": ["x"], "clientAuthType": "RequireAndVerify"}}
    assert any("clientAuthType" in p for p in tls_option_problems(option))
    with pytest.raises(AssertionError, match="drops"):
        rendered_tls_options({"tlsOptions": {"default": {"clientauth": {"secretNames": ["x"]}}}})


def test_without_origin_pulls_there_is_no_tls_option() -> None:
    config = helm_chart_config(CLOUDFLARE, "honeydue-origin-tls", ingress_hostname=HOST)
    assert rendered_tls_options(yaml.safe_load(config["spec"]["valuesContent"])) == []
