"""Authenticated Origin Pulls in the smoke check (tools/smoke.py), full/strict only.

Whether Cloudflare presents our client certificate: a few requests through Cloudflare to the probe route
(components/k8s/manifests.py ORIGIN_PULL_PROBE_PATH, the one route Traefik logs), each marked with this run's
nonce, then Traefik's access log of every node (`kubectl logs`): each of those requests must show the subject of
our certificate in `TLSClientSubject` (components/k8s/traefik_values.py access_log_values). In phase 1 that is what
the operator checks before setting originPullsRequired (docs/runbook.md); in phase 2 it still says why every
request would fail.

Phase 2 (originPullsRequired): Traefik refuses a client without a certificate of our origin-pull CA, the smoke
check's own requests to each node included, so they present the gate's probe certificate, read from the decrypted
state (`pulumi stack export --show-secrets`, tools/state_secrets.py) into a 0600 file that lasts as long as the run.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import secrets
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from components.k8s.manifests import ORIGIN_PULL_CLIENT_CN, ORIGIN_PULL_PROBE_PATH
from tools.ops import Kubectl, OpsError
from tools.smoke_http import Probe, Result, Target, request, retried
from tools.state_secrets import StateError, credential

REQUESTS = 6
"""Requests through Cloudflare per attempt: Cloudflare spreads them over the servers, any one log line proves it."""
TRAEFIK_SELECTOR = "app.kubernetes.io/name=traefik"


def nonce() -> str:
    """Marks this run's requests, so older log lines of the probe route never count."""
    return secrets.token_hex(8)


@contextmanager
def probe_certificate(export: dict[str, Any]) -> Iterator[str]:
    """A private file holding the probe's certificate and key (PEM), removed when the context ends."""
    try:
        pem = credential(export, "origin-pull-probe-cert") + credential(export, "origin-pull-probe-key")
    except StateError as error:
        raise OpsError(f"originPullsRequired: the probe certificate is not in the state ({error})") from error
    handle, path = tempfile.mkstemp(prefix="honeydue-origin-pull-probe-")
    try:
        with os.fdopen(handle, "w") as file:
            file.write(pem)
        yield path
    finally:
        os.unlink(path)


def logged_subjects(text: str, mark: str) -> list[str]:
    """`TLSClientSubject` of each access-log line (Traefik's JSON format) of a request marked `mark` ("" for one
    without a client certificate); Traefik's other log lines are skipped."""
    found = []
    for line in text.splitlines():
        start = line.find("{")
        try:
            entry = json.loads(line[start:]) if start >= 0 else None
        except ValueError:
            continue
        if isinstance(entry, dict) and mark in str(entry.get("RequestPath", "")):
            found.append(str(entry.get("TLSClientSubject", "")))
    return found


def check_origin_pulls(
    edge: Target, domain: str, kubectl: Kubectl, bounds: tuple[float, int, float], mark: str
) -> Result:
    """Whether every marked request through Cloudflare reached a node with our client certificate."""
    timeout, attempts, delay = bounds
    expected = "CN=" + ORIGIN_PULL_CLIENT_CN.format(domain=domain)
    name = f"origin pulls: Cloudflare presents {expected}"
    sent = 0

    def once() -> Result:
        nonlocal sent
        for _ in range(REQUESTS):
            sent += 1
            # A lost request is no evidence either way; the log says what arrived.
            with contextlib.suppress(OSError, http.client.HTTPException):
                request(edge, Probe(domain, f"{ORIGIN_PULL_PROBE_PATH}?smoke={mark}-{sent}", 0), timeout)
        try:
            logs = kubectl.text(
                ["-n", "kube-system", "logs", "-l", TRAEFIK_SELECTOR, "--tail=-1", "--since=15m",
                 "--max-log-requests=20"]
            )  # fmt: skip
        except OpsError as error:
            return Result(name, False, f"cannot read Traefik's access log: {error}")
        subjects = logged_subjects(logs, mark)
        if not subjects:
            return Result(name, False, f"none of {sent} requests to {ORIGIN_PULL_PROBE_PATH} reached an access log")
        other = [s or "no client certificate" for s in subjects if expected not in s]
        if other:
            return Result(name, False, f"{len(other)} of {len(subjects)} logged requests came with "
                          f"{sorted(set(other))}: do not set originPullsRequired")  # fmt: skip
        return Result(name, True, f"{len(subjects)} of {len(subjects)} logged requests carried it")

    return retried(once, attempts, delay)
