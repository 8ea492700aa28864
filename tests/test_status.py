"""tools/status.py: certificate expiry from real certificates (made with openssl), snapshot ages from
canned ETCDSnapshotFile and CronJob objects, and the whole command with a fake kubectl."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.validators import require_tool
from tools import status

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def make_cert(tmp_path: Path, days: int) -> str:
    key, crt = tmp_path / f"k{days}.pem", tmp_path / f"c{days}.pem"
    subprocess.run(
        [require_tool("openssl"), "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
         "-keyout", str(key), "-out", str(crt), "-days", str(days), "-subj", "/CN=honeydue-test"],
        check=True, capture_output=True, timeout=30,
    )  # fmt: skip
    return crt.read_text()


def test_certificate_not_after_is_read_from_the_pem(tmp_path: Path) -> None:
    not_after = status.certificate_not_after(make_cert(tmp_path, 10))
    assert timedelta(days=9, hours=23) < not_after - datetime.now(UTC) <= timedelta(days=10)


def test_expiry_levels() -> None:
    assert status.expiry_line("c", NOW + timedelta(days=100), NOW, 60, 14).level == "OK"
    assert status.expiry_line("c", NOW + timedelta(days=30), NOW, 60, 14).level == "WARN"
    assert status.expiry_line("c", NOW + timedelta(days=3), NOW, 60, 14).level == "FAIL"
    assert "expired" in status.expiry_line("c", NOW - timedelta(days=1), NOW, 60, 14).detail


def snapshot(name: str, created: str, s3: bool = True, ready: bool = True) -> dict[str, Any]:
    spec: dict[str, Any] = {"snapshotName": name, "nodeName": "honeydue-1", "location": f"file:///{name}"}
    if s3:
        spec |= {"s3": {"bucket": "honeydue-etcd-snapshots"}, "location": f"s3://honeydue-etcd-snapshots/{name}"}
    return {"metadata": {"name": name}, "spec": spec, "status": {"creationTime": created, "readyToUse": ready}}


def test_only_ready_s3_snapshots_count_as_off_site() -> None:
    files = [
        snapshot("local-newest", "2026-11-30T11:00:00Z", s3=False),
        snapshot("s3-failed", "2026-11-30T10:00:00Z", ready=False),
        snapshot("s3-ok", "2026-11-30T06:00:00Z"),
        snapshot("s3-older", "2026-11-30T00:00:00Z"),
    ]
    assert status.newest_offsite_snapshot(files) == datetime(2026, 11, 30, 6, 0, tzinfo=UTC)
    assert status.newest_offsite_snapshot(files[:2]) is None
    assert status.age_line("etcd", None, NOW, timedelta(hours=13), "x").level == "FAIL"
    assert status.age_line("etcd", NOW - timedelta(hours=14), NOW, timedelta(hours=13), "x").level == "FAIL"
    assert status.age_line("etcd", NOW - timedelta(hours=6), NOW, timedelta(hours=13), "x").level == "OK"


def kubeconfig(user: dict[str, str]) -> str:
    return json.dumps({"apiVersion": "v1", "kind": "Config", "users": [{"name": "default", "user": user}]})


def test_credential_from_the_client_certificate_or_a_token(tmp_path: Path) -> None:
    cert = base64.b64encode(make_cert(tmp_path, 5).encode()).decode()
    line = status.credential_line(
        kubeconfig({"client-certificate-data": cert, "client-key-data": "x"}), datetime.now(UTC)
    )
    assert line.level == "FAIL" and "days left" in line.detail  # 5 days < the 7-day limit
    token = status.credential_line(kubeconfig({"token": "t"}), NOW)
    assert token.level == "OK" and "no expiry" in token.detail


FAKE_KUBECTL = """#!{python}
import json, sys
canned = json.load(open({canned!r}))
args = sys.argv[1:]
if "secret" in args:
    print(canned["crt"], end="")
elif "etcdsnapshotfiles.k3s.cattle.io" in args:
    print(json.dumps({{"items": canned["snapshots"]}}))
elif "cronjob" in args:
    print(json.dumps(canned["cronjob"]))
else:
    sys.exit("unexpected kubectl " + " ".join(args))
"""


def test_make_status_end_to_end(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    now = datetime.now(UTC)
    iso = lambda t: t.strftime("%Y-%m-%dT%H:%M:%SZ")  # noqa: E731
    canned = {
        "crt": base64.b64encode(make_cert(tmp_path, 5475).encode()).decode(),
        "snapshots": [snapshot("s3-ok", iso(now - timedelta(hours=2)))],
        "cronjob": {"status": {"lastSuccessfulTime": iso(now - timedelta(hours=5))}},  # stale: limit 2 h
    }
    (tmp_path / "canned.json").write_text(json.dumps(canned))
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "kubectl"
    fake.write_text(FAKE_KUBECTL.format(python=sys.executable, canned=str(tmp_path / "canned.json")))
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    cert = base64.b64encode(make_cert(tmp_path, 300).encode()).decode()
    outputs = {"appNamespace": "honeydue", "kubeconfig": kubeconfig({"client-certificate-data": cert})}
    (tmp_path / "outputs.json").write_text(json.dumps(outputs))

    assert status.main(["--outputs", str(tmp_path / "outputs.json")]) == 1
    out = capsys.readouterr().out.splitlines()
    levels = {line.split(":")[0][6:]: line[:4].strip() for line in out}
    assert levels == {
        "Origin CA certificate": "OK",
        "newest off-site etcd snapshot": "OK",
        "newest Redis snapshot (B2)": "FAIL",
        "Pulumi credential (kubeconfig client certificate)": "OK",
    }, out
