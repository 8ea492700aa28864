"""Secret values live in Kubernetes Secrets only, and Secrets keep their values secret.

What CrossGuard can and can't see: the engine sends a Secret's `stringData`/`data` wrapped as secret,
but pulumi_policy's Analyze deserialises props without that wrapper, so a policy can't tell a secret
input from a plaintext one. This policy checks what it can see — secret-looking keys or values in a
ConfigMap, secret-looking literal `env` values in a pod template, a Secret's shape and that its
`data`/`stringData` outputs are marked secret (opts.additional_secret_outputs) — and
`honeydue_policies.plan_checks` proves on the recorded plan that every Secret's inputs are secret.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping

from pulumi_policy import ResourceValidationArgs

from honeydue_policies.common import get, items

CONFIGMAP = "kubernetes:core/v1:ConfigMap"
SECRET = "kubernetes:core/v1:Secret"
POD_TEMPLATES = {
    "kubernetes:apps/v1:Deployment": ("spec", "template", "spec"),
    "kubernetes:apps/v1:StatefulSet": ("spec", "template", "spec"),
    "kubernetes:apps/v1:DaemonSet": ("spec", "template", "spec"),
    "kubernetes:batch/v1:Job": ("spec", "template", "spec"),
    "kubernetes:batch/v1:CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
    "kubernetes:core/v1:Pod": ("spec",),
}
SECRET_FIELDS = {"apiVersion", "kind", "metadata", "type", "data", "stringData", "immutable"}

# A key is secret-looking when one of its words (split at _ . - and camelCase) is one of these.
SECRET_WORDS = frozenset(
    {"PASSWORD", "PASSWD", "PASS", "PWD", "SECRET", "SECRETS", "TOKEN", "TOKENS", "KEY", "APIKEY", "PRIVATE",
     "CREDENTIAL", "CREDENTIALS", "DSN"}
)  # fmt: skip
# Whole keys that are secrets although no single word says so (a DSN carries the password).
SECRET_KEYS = frozenset({"DATABASE_URL", "REDIS_URL", "POSTGRES_URL", "DATABASE_URI"})
# Values that are credentials whatever their key: a URL with a password, a PEM block.
SECRET_VALUE = re.compile(r"[a-z][a-z0-9+.-]*://[^/\s:@]+:[^/\s@]+@|-----BEGIN [A-Z0-9 ]+-----", re.IGNORECASE)
_WORD = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+")


def secret_looking_key(key: str) -> bool:
    """Whether an env var or data key names a secret (PASSWORD, SMTP_PASSWORD, apiKey, DATABASE_URL …)."""
    words = {w.upper() for w in _WORD.findall(key)}
    return key.upper() in SECRET_KEYS or bool(words & SECRET_WORDS)


def _configmap_problems(args: ResourceValidationArgs) -> Iterator[str]:
    name = get(args.props, "metadata", "name", default=args.name)
    for field in ("data", "binaryData"):
        data = get(args.props, field, default={})
        if not isinstance(data, Mapping):
            continue
        for key, value in data.items():
            if secret_looking_key(str(key)):
                yield f"ConfigMap {name}: key {key!r} looks like a secret; put it in a Secret"
            elif isinstance(value, str) and SECRET_VALUE.search(value):
                yield f"ConfigMap {name}: the value of {key!r} holds a credential (URL password or PEM block)"


def _env_problems(args: ResourceValidationArgs, path: tuple[str, ...]) -> Iterator[str]:
    name = get(args.props, "metadata", "name", default=args.name)
    pod = get(args.props, *path, default={})
    for container in [*items(get(pod, "initContainers")), *items(get(pod, "containers"))]:
        for env in items(get(container, "env")):
            key, value = str(get(env, "name", default="")), get(env, "value")
            if value is None:
                continue  # valueFrom (a secretKeyRef) or empty
            if secret_looking_key(key) or (isinstance(value, str) and SECRET_VALUE.search(value)):
                yield (
                    f"{name}, container {get(container, 'name', default='?')}: env {key} is a literal value that "
                    "looks like a secret; use valueFrom.secretKeyRef (or envFrom a Secret)"
                )


def _secret_problems(args: ResourceValidationArgs) -> Iterator[str]:
    name = get(args.props, "metadata", "name", default=args.name)
    extra = sorted(set(args.props) - SECRET_FIELDS)
    if extra:
        yield f"Secret {name} carries fields other than data/stringData: {', '.join(extra)}"
    marked = set(args.opts.additional_secret_outputs or ())
    if not {"data", "stringData"} <= marked:
        # pulumi-kubernetes marks both on every Secret it registers; a Secret made another way
        # (a raw CustomResource, a transform) would store its values in plaintext state.
        yield f"Secret {name}: outputs data and stringData must be additionalSecretOutputs (has {sorted(marked)})"


def check(args: ResourceValidationArgs) -> Iterator[str]:
    """Secret-looking values outside Secrets, and Secrets whose values are not kept secret."""
    if args.resource_type == CONFIGMAP:
        yield from _configmap_problems(args)
    elif args.resource_type == SECRET:
        yield from _secret_problems(args)
    elif args.resource_type in POD_TEMPLATES:
        yield from _env_problems(args, POD_TEMPLATES[args.resource_type])
