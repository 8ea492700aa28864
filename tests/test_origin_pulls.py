"""Authenticated Origin Pulls (issue 25 item 2): origins answer only for our zone in full/strict mode.

The program as it registers (mock engine): our CA, the client certificate uploaded to the zone with its key secret;
phase 1 (sslMode strict): Traefik asks for a certificate, serves any or none and verifies nothing, the gates, the
`ssl` setting, then origin pulls on and the wait until Cloudflare deploys the upload; phase 2 (originPullsRequired)
only after phase 1 finished (its order: tests/test_scenarios.py, origin-pulls-required); off in flexible mode once
Traefik stopped asking. The wait (scripts/edge/origin-pull-active.sh) runs for real against a local stand-in of
Cloudflare's API.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.config.deployed import deployed_state_problems
from components.edge.origin_pulls import ACTIVE_SCRIPT, active_wait_environment
from components.k8s.traefik import CLIENT_CA_SECRET
from components.k8s.traefik_values import traefik_values
from offline.records import Plan, Registration, SecretValue
from tests.conftest import load_prod
from tests.validators import require_tool

COMMAND = "command:remote:Command"
LOCAL = "command:local:Command"
UPLOAD = "cloudflare:index/authenticatedOriginPullsCertificate:AuthenticatedOriginPullsCertificate"
SETTINGS = "cloudflare:index/authenticatedOriginPullsSettings:AuthenticatedOriginPullsSettings"
ZONE_SETTING = "cloudflare:index/zoneSetting:ZoneSetting"
CHART = "kubernetes:helm.cattle.io/v1:HelmChartConfig"
SECRET = "kubernetes:core/v1:Secret"
SELF_SIGNED = "tls:index/selfSignedCert:SelfSignedCert"
LOCALLY_SIGNED = "tls:index/locallySignedCert:LocallySignedCert"


def _out(plan: Plan, reg: Registration, key: str) -> Any:
    return plan.resource_outputs[reg.urn][1][key]


def _plain(value: Any) -> Any:
    return value.value if isinstance(value, SecretValue) else value


def test_strict_uploads_a_client_certificate_of_our_own_ca_with_its_key_secret(strict_plan: Plan) -> None:
    ca = strict_plan.get(SELF_SIGNED, "honeydue-origin-pulls-ca")
    assert ca.inputs["isCaCertificate"] is True and set(ca.inputs["allowedUses"]) == {"cert_signing", "crl_signing"}
    ca_key = strict_plan.get("tls:index/privateKey:PrivateKey", "honeydue-origin-pulls-ca-key")
    assert (ca_key.inputs["algorithm"], ca_key.inputs["ecdsaCurve"]) == ("ECDSA", "P256")
    client = strict_plan.get(LOCALLY_SIGNED, "honeydue-origin-pulls-client-cert")
    assert client.inputs["allowedUses"] == ["digital_signature", "client_auth"]
    assert _plain(client.inputs["caCertPem"]) == _out(strict_plan, ca, "certPem")
    upload = strict_plan.get(UPLOAD, "honeydue-origin-pulls-certificate")
    assert upload.inputs["certificate"] == _out(strict_plan, client, "certPem")
    assert upload.inputs["zoneId"] == "0123456789abcdef0123456789abcdef"
    # Secret in the state: the SDK wraps it and marks the output; never plaintext, never an export.
    assert isinstance(upload.inputs["privateKey"], SecretValue) and "privateKey" in upload.additional_secret_outputs
    key = _plain(upload.inputs["privateKey"])
    assert key in strict_plan.known_secrets and key not in json.dumps(strict_plan.outputs, default=str)
    # Zone-level, not per hostname: the type uploads to /zones/{zone_id}/origin_tls_client_auth.
    assert not [r for r in strict_plan.registrations if "HostnameCertificate" in r.type]


def test_strict_turns_origin_pulls_on_after_the_upload_and_the_ssl_switch_then_waits(strict_plan: Plan) -> None:
    upload = strict_plan.get(UPLOAD, "honeydue-origin-pulls-certificate")
    settings = strict_plan.get(SETTINGS, "honeydue-origin-pulls-settings")
    assert settings.inputs["enabled"] is True and upload.urn in settings.dependencies
    # Cloudflare's order: the zone in Full or higher before zone-level origin pulls go on.
    assert strict_plan.get(ZONE_SETTING, "honeydue-edge-tls-ssl").urn in settings.dependencies
    active = strict_plan.get(LOCAL, "honeydue-origin-pulls-active")
    assert {upload.urn, settings.urn} <= set(active.dependencies)
    assert active.inputs["create"] == ACTIVE_SCRIPT.read_text()
    assert active.inputs["interpreter"] == ["/bin/bash", "-c"]
    certificate_id = _out(strict_plan, upload, "certificateId")
    assert active.inputs["environment"] == active_wait_environment("0123456789abcdef0123456789abcdef", certificate_id)
    # A renewed upload is waited for again, and so is the deployment before phase 2 requires it.
    assert active.inputs["triggers"] == [certificate_id, "optional"]
    assert "CLOUDFLARE_API_TOKEN" not in json.dumps(active.inputs["environment"])  # from the run's environment


def test_phase_1_traefik_asks_for_a_certificate_verifies_none_and_waits_for_nothing_of_cloudflare(
    strict_plan: Plan,
) -> None:
    active = strict_plan.get(LOCAL, "honeydue-origin-pulls-active")
    chart = strict_plan.get(CHART, "kube-system-helmchartconfig-traefik")
    ca_secret = strict_plan.get(SECRET, f"kube-system-secret-{CLIENT_CA_SECRET}")
    # Nothing proves Cloudflare presents our certificate on its next pull: phase 1 serves a client without one.
    assert strict_plan.waits_for(chart, ca_secret) and not strict_plan.waits_for(chart, active)
    values = yaml.safe_load(chart.inputs["spec"]["valuesContent"])
    assert values["tlsOptions"] == {
        "default": {"clientAuth": {"secretNames": [CLIENT_CA_SECRET], "clientAuthType": "RequestClientCert"}}
    }
    # The CA certificate alone: no private key in the Secret Traefik reads.
    ca = strict_plan.get(SELF_SIGNED, "honeydue-origin-pulls-ca")
    assert {k: _plain(v) for k, v in _plain(ca_secret.inputs["stringData"]).items()} == {
        "ca.crt": _out(strict_plan, ca, "certPem")
    }
    assert ca_secret.inputs["metadata"]["namespace"] == "kube-system"
    # Then the gates (which present the probe), the switch, origin pulls on; the phase is recorded after all of it.
    ssl = strict_plan.get(ZONE_SETTING, "honeydue-edge-tls-ssl")
    for index in (1, 2, 3):
        gate = strict_plan.get(COMMAND, f"honeydue-origin-gate-{index}")
        assert strict_plan.waits_for(gate, chart) and strict_plan.waits_for(ssl, gate)
        assert strict_plan.waits_for(active, gate)
    assert strict_plan.outputs["originPulls"] == "optional"


def test_phase_2_requires_the_certificate_and_only_after_a_finished_phase_1() -> None:
    phase_2 = traefik_values(["192.0.2.0/24"], "tls", ingress_hostname="honeydue.app", client_ca_secret="ca",
                             client_auth_required=True)  # fmt: skip
    assert phase_2["tlsOptions"]["default"]["clientAuth"]["clientAuthType"] == "RequireAndVerifyClientCert"
    config = load_prod({"sslMode": "strict", "originPullsRequired": True})
    refused = [p for p in deployed_state_problems(config, previous_version=None, previous_token_source=None)
               if p.startswith("honeydue:originPullsRequired:")]  # fmt: skip
    assert refused and "did not finish phase 1" in refused[0] and "originPulls is not set" in refused[0]
    for previous in ("off", None):
        assert deployed_state_problems(
            config, previous_version="v1.34.6+k3s1", previous_token_source="random", previous_origin_pulls=previous
        )
    for previous in ("optional", "required"):
        assert not deployed_state_problems(
            config, previous_version="v1.34.6+k3s1", previous_token_source="random", previous_origin_pulls=previous
        )


def test_the_gate_presents_the_probe_with_its_key_on_stdin_only(strict_plan: Plan) -> None:
    probe = strict_plan.get(LOCALLY_SIGNED, "honeydue-origin-pulls-probe-cert")
    probe_key = strict_plan.get("tls:index/privateKey:PrivateKey", "honeydue-origin-pulls-probe-key")
    key = _out(strict_plan, probe_key, "privateKeyPem")
    for index in (1, 2, 3):
        gate = strict_plan.get(COMMAND, f"honeydue-origin-gate-{index}")
        assert isinstance(gate.inputs["stdin"], SecretValue) and gate.inputs["stdin"].value == key
        text = _plain(gate.inputs["create"])
        assert _out(strict_plan, probe, "certPem") in text and key not in text
        assert "CLIENT_CERT=/usr/local/lib/honeydue/edge/origin-pull-probe.pem" in text
        assert "CLIENT_KEY=/etc/honeydue/origin-pull-probe.key" in text and "CLIENT_AUTH=optional" in text
        # Removed again when the step's shell exits, however it exits (components/remote.py remove_on_exit).
        assert 'gone="$root"/etc/honeydue/origin-pull-probe.key' in text
    # The probe is not the certificate Cloudflare holds: its key never leaves for Cloudflare, Cloudflare's never
    # reaches a node.
    client_key = strict_plan.get("tls:index/privateKey:PrivateKey", "honeydue-origin-pulls-client-key")
    client_pem = _out(strict_plan, client_key, "privateKeyPem")
    assert not [r for r in strict_plan.by_type(COMMAND) if client_pem in json.dumps(r.inputs, default=str)]


def test_flexible_keeps_the_setting_off_after_traefik_and_nothing_else(prod_plan: Plan) -> None:
    settings = prod_plan.get(SETTINGS, "honeydue-origin-pulls-settings")
    assert settings.inputs["enabled"] is False
    chart = prod_plan.get(CHART, "kube-system-helmchartconfig-traefik")
    ssl = prod_plan.get(ZONE_SETTING, "honeydue-edge-tls-ssl")
    assert prod_plan.waits_for(settings, chart) and prod_plan.waits_for(chart, ssl)
    assert prod_plan.outputs["originPulls"] == "off"
    assert "tlsOptions" not in yaml.safe_load(chart.inputs["spec"]["valuesContent"])
    assert not prod_plan.by_type(UPLOAD) and not prod_plan.by_type(SELF_SIGNED)
    assert [r.name for r in prod_plan.by_type(LOCAL)] == ["honeydue-edge-tls-settle"]  # no wait for an upload
    assert not [r for r in prod_plan.by_type(SECRET) if CLIENT_CA_SECRET in r.name]


def test_the_setting_keeps_its_urn_in_every_mode(prod_plan: Plan, strict_plan: Plan) -> None:
    """The provider's Delete leaves the setting as it is, so leaving strict must be an update to off, never a
    delete of one resource and a create of another."""
    assert prod_plan.get(SETTINGS, "honeydue-origin-pulls-settings").urn == (
        strict_plan.get(SETTINGS, "honeydue-origin-pulls-settings").urn
    )


# --- scripts/edge/origin-pull-active.sh against a stand-in of Cloudflare's API ---------------------------------

ZONE, CERT, TOKEN = "z" * 32, "c" * 32, "TOKEN-origin-pull-active-test"


class FakeCloudflare:
    """GET /zones/<zone>/origin_tls_client_auth/<id>: the next status of `statuses` (the last one repeats);
    GET /zones/<zone>/origin_tls_client_auth/settings: `{"enabled": enabled}` (Get Enablement Setting for Zone)."""

    def __init__(self, statuses: list[str], code: int = 200, *, enabled: bool = True) -> None:
        self.statuses, self.code, self.seen = list(statuses), code, []  # type: list[str], int, list[tuple[str, str]]
        self.enabled = enabled
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                fake.seen.append((self.path, self.headers.get("Authorization", "")))
                body: dict[str, Any]
                if self.path.endswith("/origin_tls_client_auth/settings"):
                    body = {"success": True, "result": {"enabled": fake.enabled}}
                else:
                    status = fake.statuses.pop(0) if len(fake.statuses) > 1 else fake.statuses[0]
                    body = {"success": True, "result": {"id": CERT, "status": status}}
                if fake.code != 200:
                    body = {"success": False, "errors": [{"code": 10000, "message": "Authentication error"}]}
                data = json.dumps(body).encode()
                self.send_response(fake.code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *_: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}/client/v4"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def cloudflare() -> Iterator[list[FakeCloudflare]]:
    made: list[FakeCloudflare] = []
    yield made
    for fake in made:
        fake.close()


def wait(
    fake: FakeCloudflare, tmp_path: Path, *, deadline: int = 3, token: str | None = TOKEN
) -> subprocess.CompletedProcess[str]:
    """The step as pulumi-command's local provider runs it: the script as `bash -c`, its environment added to the
    run's. A curl on PATH that records its arguments, then runs the real one."""
    real = require_tool("curl")
    require_tool("python3")
    shim = tmp_path / "bin"
    shim.mkdir(exist_ok=True)
    (shim / "curl").write_text(f'#!/bin/sh\nprintf "%s\\n" "$*" >> "{tmp_path}/curl-args"\nexec {real} "$@"\n')
    (shim / "curl").chmod(0o755)
    env = {
        "PATH": f"{shim}:{os.environ['PATH']}",
        "CLOUDFLARE_API_BASE": fake.base,
        **active_wait_environment(ZONE, CERT),
        "DEADLINE": str(deadline),
        "INTERVAL": "1",
        **({"CLOUDFLARE_API_TOKEN": token} if token else {}),
    }
    return subprocess.run(
        ["/bin/bash", "-c", ACTIVE_SCRIPT.read_text()], capture_output=True, text=True, env=env, timeout=60
    )


def test_the_wait_passes_once_the_certificate_is_active(cloudflare: list[FakeCloudflare], tmp_path: Path) -> None:
    fake = FakeCloudflare(["initializing", "pending_deployment", "active"])
    cloudflare.append(fake)
    run = wait(fake, tmp_path, deadline=20)
    assert run.returncode == 0, run.stderr
    assert f"certificate {CERT} is active" in run.stdout and "Origin Pulls are enabled" in run.stdout
    certificate, settings = (f"/client/v4/zones/{ZONE}/origin_tls_client_auth/{leaf}" for leaf in (CERT, "settings"))
    assert [path for path, _ in fake.seen] == [certificate] * 3 + [settings]
    assert {auth for _, auth in fake.seen} == {f"Bearer {TOKEN}"}
    assert TOKEN not in (tmp_path / "curl-args").read_text()  # the token reached curl on stdin, not in its argv


def test_the_wait_gives_up_at_its_deadline_naming_the_last_status(
    cloudflare: list[FakeCloudflare], tmp_path: Path
) -> None:
    fake = FakeCloudflare(["pending_deployment"])
    cloudflare.append(fake)
    run = wait(fake, tmp_path, deadline=2)
    assert run.returncode == 1 and len(fake.seen) >= 2
    assert run.stderr.strip().endswith(
        f"certificate {CERT} is still pending_deployment after 2s; Traefik was not told to require it"
    )


def test_an_active_certificate_with_the_setting_off_is_not_enough(
    cloudflare: list[FakeCloudflare], tmp_path: Path
) -> None:
    """Review item 3: the edge presents an active upload only while zone-level origin pulls are enabled."""
    fake = FakeCloudflare(["active"], enabled=False)
    cloudflare.append(fake)
    run = wait(fake, tmp_path, deadline=1)
    assert run.returncode == 1 and fake.seen[-1][0].endswith("/origin_tls_client_auth/settings")
    assert "is still active, but zone-level Authenticated Origin Pulls are not enabled (settings: false)" in run.stderr


def test_the_wait_stops_at_once_on_a_status_that_will_not_become_active(
    cloudflare: list[FakeCloudflare], tmp_path: Path
) -> None:
    fake = FakeCloudflare(["deployment_timed_out"])
    cloudflare.append(fake)
    run = wait(fake, tmp_path, deadline=30)
    assert run.returncode == 1 and len(fake.seen) == 1
    assert f"certificate {CERT} is deployment_timed_out: it will not become active" in run.stderr


def test_an_api_error_is_shown_and_retried_until_the_deadline(cloudflare: list[FakeCloudflare], tmp_path: Path) -> None:
    fake = FakeCloudflare(["active"], code=403)
    cloudflare.append(fake)
    run = wait(fake, tmp_path, deadline=2)
    assert run.returncode == 1 and len(fake.seen) >= 2
    assert "still unreadable (" in run.stderr and "403" in run.stderr and "Authentication error" in run.stderr


def test_without_the_token_the_wait_says_so(cloudflare: list[FakeCloudflare], tmp_path: Path) -> None:
    fake = FakeCloudflare(["active"])
    cloudflare.append(fake)
    run = wait(fake, tmp_path, token=None)
    assert run.returncode != 0 and not fake.seen
    assert "CLOUDFLARE_API_TOKEN is not set" in run.stderr


def test_the_wait_script_passes_shellcheck() -> None:
    run = subprocess.run([require_tool("shellcheck"), "-s", "bash", str(ACTIVE_SCRIPT)], capture_output=True,
                         text=True, timeout=60)  # fmt: skip
    assert run.returncode == 0, run.stdout
    assert shutil.which("bash")


# Traefik v3.6.10's access-log field names (pkg/middlewares/accesslog/logdata.go L9-L79).
TRAEFIK_LOG_FIELDS = {"StartUTC", "StartLocal", "Duration", "RouterName", "ServiceName", "ServiceURL", "ServiceAddr",
                      "ClientAddr", "ClientHost", "ClientPort", "ClientUsername", "RequestAddr", "RequestHost",
                      "RequestPort", "RequestMethod", "RequestPath", "RequestProtocol", "RequestScheme",
                      "RequestContentSize", "OriginDuration", "OriginContentSize", "OriginStatus", "DownstreamStatus",
                      "DownstreamContentSize", "RequestCount", "GzipRatio", "Overhead", "RetryAttempts", "TLSVersion",
                      "TLSCipher", "TLSClientSubject"}  # fmt: skip


def test_the_evidence_between_the_phases_is_one_logged_probe_route(prod_plan: Plan, strict_plan: Plan) -> None:
    """Traefik logs the probe route only, with the subject of the client certificate each request came with; the
    same values in every mode (pod arguments: a change would roll Traefik on every node)."""
    charts = [p.get(CHART, "kube-system-helmchartconfig-traefik") for p in (prod_plan, strict_plan)]
    flexible, strict = (yaml.safe_load(c.inputs["spec"]["valuesContent"]) for c in charts)
    assert flexible["logs"] == strict["logs"] and flexible["ports"] == strict["ports"]
    access = strict["logs"]["access"]
    assert access["enabled"] is True and access["format"] == "json"
    assert access["fields"]["general"]["defaultmode"] == "drop" and access["fields"]["headers"]["defaultmode"] == "drop"
    kept = set(access["fields"]["general"]["names"])
    assert "TLSClientSubject" in kept <= TRAEFIK_LOG_FIELDS and not kept & {"ClientAddr", "ClientHost"}
    assert {strict["ports"][p]["observability"]["accessLogs"] for p in ("web", "websecure")} == {False}
    probe = strict_plan.get("kubernetes:networking.k8s.io/v1:Ingress", "honeydue-ingress-honeydue-origin-pull-probe")
    annotations = probe.inputs["metadata"]["annotations"]
    assert annotations["traefik.ingress.kubernetes.io/router.observability.accesslogs"] == "true"
    assert annotations["traefik.ingress.kubernetes.io/router.entrypoints"] == "websecure"
    (rule,) = probe.inputs["spec"]["rules"]
    assert rule["host"] == "honeydue.app" and rule["http"]["paths"][0]["pathType"] == "Exact"
    assert rule["http"]["paths"][0]["path"] == "/_honeydue/origin-pull-probe"
    assert not [r for r in prod_plan.registrations if "origin-pull-probe" in r.name]
