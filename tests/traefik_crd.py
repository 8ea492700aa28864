"""Traefik's Middleware CRD as K3s v1.34.6 installs it, and a check of an object against its schema.

The Kubernetes 1.34 schemas that kubernetes-validate ships have no entry for custom resources, so a
traefik.io/v1alpha1 Middleware is checked here: against the CRD's openAPIV3Schema (jsonschema), and for fields
the schema does not declare, which the API server's strict field validation refuses.
"""

from __future__ import annotations

import hashlib
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]  # from check-jsonschema (requirements-dev); no stubs locked
import yaml

CRD = Path(__file__).parent / "fixtures" / "traefik-crd" / "traefik.io_middlewares.yaml"
# k3s-io/k3s-charts 2e127a34 charts/traefik-crd/39.0.501+up39.0.5/templates/traefik.io_middlewares.yaml: the CRD
# chart K3s v1.34.6 installs (its manifests/traefik.yaml names traefik-crd-39.0.501+up39.0.5).
CRD_SHA256 = "bc146c74ce62d0c977003f8e3bceafa73e97616b773680c83ae8345f72189ca4"


@cache
def crd_schema() -> dict[str, Any]:
    text = CRD.read_bytes()
    assert hashlib.sha256(text).hexdigest() == CRD_SHA256, "the vendored CRD changed: re-vendor it from k3s-charts"
    crd = yaml.safe_load(text)
    (version,) = [v for v in crd["spec"]["versions"] if v["name"] == "v1alpha1"]
    schema: dict[str, Any] = version["schema"]["openAPIV3Schema"]
    return schema


def _unknown_fields(value: Any, schema: dict[str, Any], path: str = "") -> list[str]:
    """Keys the structural schema does not declare (metadata is the API server's own, checked by it)."""
    if isinstance(value, dict) and "properties" in schema:
        found = []
        for key, item in value.items():
            if key == "metadata" and not path:
                continue
            if key not in schema["properties"]:
                found.append(f"{path}.{key}")
            else:
                found += _unknown_fields(item, schema["properties"][key], f"{path}.{key}")
        return found
    if isinstance(value, list) and "items" in schema:
        return [f for item in value for f in _unknown_fields(item, schema["items"], f"{path}[]")]
    return []


def crd_problems(manifest: dict[str, Any]) -> list[str]:
    """Every schema error and undeclared field of a Middleware object; [] when the API server would take it."""
    if (manifest.get("apiVersion"), manifest.get("kind")) != ("traefik.io/v1alpha1", "Middleware"):
        return [f"not a traefik.io/v1alpha1 Middleware: {manifest.get('apiVersion')} {manifest.get('kind')}"]
    schema = crd_schema()
    errors = [str(e.message) for e in jsonschema.Draft7Validator(schema).iter_errors(manifest)]
    return errors + _unknown_fields(manifest, schema)
