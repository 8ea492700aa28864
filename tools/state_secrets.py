"""Reads a root credential out of a decrypted state export: what `make kubeconfig` and `make deploy-key` run.

The stack exports no root credential (docs/outputs.md): the deploy SSH key and the Kubernetes
credential live only in the state, encrypted, as the output of the deploy key's `tls.PrivateKey` and
the input of the Kubernetes provider. An operator with access to the stack decrypts them with
`pulumi stack export --show-secrets`, where a secret is `{"4dabf18193072939515e22adb298388d":
"1b47061264138c4ac30d75fd1eb44270", "plaintext": "<the value as JSON>"}` (and `"ciphertext"` without
--show-secrets; pulumi pkg/resource/stack/deployment.go, DeserializePropertyValue).

    pulumi stack export --show-secrets | python -m tools.state_secrets kubeconfig
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping
from typing import Any

SECRET_SIG_KEY = "4dabf18193072939515e22adb298388d"
SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"
# (type, resource name, property) of each credential; names are the program's own (components/naming.py).
CREDENTIALS: dict[str, tuple[str, str, str]] = {
    "kubeconfig": ("pulumi:providers:kubernetes", "honeydue-k3s-k8s", "kubeconfig"),
    "deploy-key": ("tls:index/privateKey:PrivateKey", "honeydue-deploy", "privateKeyOpenssh"),
    # The origin gate's probe (full/strict): a client certificate of the origin-pull CA and its key, for the smoke
    # check in phase 2 (tools/smoke.py) and a gate run by hand (docs/runbook.md); never left on a node.
    "origin-pull-probe-cert": (
        "tls:index/locallySignedCert:LocallySignedCert",
        "honeydue-origin-pulls-probe-cert",
        "certPem",
    ),
    "origin-pull-probe-key": ("tls:index/privateKey:PrivateKey", "honeydue-origin-pulls-probe-key", "privateKeyPem"),
}


class StateError(Exception):
    """The export does not hold the credential in plaintext."""


def reveal(value: Any) -> Any:
    """A state value with secrets decoded; fails on a secret that is still encrypted."""
    if isinstance(value, Mapping) and value.get(SECRET_SIG_KEY) == SECRET_SIG:
        if "plaintext" not in value:
            raise StateError("the secret is encrypted: export with `pulumi stack export --show-secrets`")
        return reveal(json.loads(value["plaintext"]))
    return value


def credential(export: Mapping[str, Any], which: str) -> str:
    """The credential `which` (a key of CREDENTIALS) from a `pulumi stack export --show-secrets` document."""
    type_, name, prop = CREDENTIALS[which]
    resources = export.get("deployment", {}).get("resources") or []
    matches = [
        r
        for r in resources
        if r.get("type") == type_ and str(r.get("urn", "")).endswith(f"::{name}") and not r.get("delete")
    ]
    if which == "deploy-key":
        # One key per deployKeyGeneration (honeydue-deploy, honeydue-deploy-2, ...): the highest is current.
        keys = {_generation(str(r.get("urn", "")), name): r for r in resources if r.get("type") == type_}
        keys.pop(None, None)
        matches = [keys[max(keys)]] if keys else []  # type: ignore[type-var]
    if len(matches) != 1:
        raise StateError(f"expected one {type_} named {name} in the state, found {len(matches)}")
    for section in ("outputs", "inputs"):
        value = reveal((matches[0].get(section) or {}).get(prop))
        if isinstance(value, str) and value:
            return value if value.endswith("\n") else value + "\n"
    raise StateError(f"{name} has no {prop} in the state")


def _generation(urn: str, name: str) -> int | None:
    """The deploy key generation of a PrivateKey URN (None: not a deploy key)."""
    resource = urn.rsplit("::", 1)[-1]
    if resource == name:
        return 1
    suffix = resource.removeprefix(f"{name}-")
    return int(suffix) if suffix != resource and suffix.isascii() and suffix.isdigit() else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("which", choices=sorted(CREDENTIALS))
    args = parser.parse_args(argv)
    try:
        sys.stdout.write(credential(json.load(sys.stdin), args.which))
    except (StateError, json.JSONDecodeError) as error:
        print(f"state_secrets: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
