"""Hetzner takes at most 32 KiB of user data (issue 21 item 8). The size is checked before anything is
registered, with host keys not yet generated: stand-ins at least as long as real ones."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from components.config.reader import ConfigError
from components.firewall.ufw import FIREWALL_SCRIPT_PATH
from components.hetzner import cloud_init
from offline.harness import run_program
from offline.plan import revealed, user_data_headroom
from offline.records import Plan


def _real_host_key(tmp_path: Path) -> tuple[str, str]:
    """An ed25519 key pair in OpenSSH form, as long as one with a comment as tls.PrivateKey's is without."""
    key = tmp_path / "host"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "root@honeydue-agent-100", "-f", str(key)], check=True
    )
    return key.read_text(), (tmp_path / "host.pub").read_text()


def test_the_stand_ins_are_at_least_as_long_as_real_host_keys(tmp_path: Path, prod_plan: Plan) -> None:
    private, public = _real_host_key(tmp_path)
    assert len(private) <= cloud_init.HOST_PRIVATE_KEY_BOUND and len(public) <= cloud_init.HOST_PUBLIC_KEY_BOUND
    server = prod_plan.get("hcloud:index/server:Server", "honeydue-1")
    document = yaml.safe_load(revealed(server.inputs["userData"]))
    script = next(f["content"] for f in document["write_files"] if f["path"] == FIREWALL_SCRIPT_PATH)
    real = cloud_init.render_cloud_init(
        cloud_init.NodeBootstrap(
            hostname="honeydue-1", host_private_key=private, host_public_key=public, firewall_script=script
        )
    )
    assert len(real.encode()) <= cloud_init.user_data_size_bound("honeydue-1", script)


def test_the_plan_reports_the_headroom(prod_plan: Plan) -> None:
    size, spare = user_data_headroom(prod_plan)
    assert size + spare == cloud_init.USER_DATA_LIMIT and spare > 2048, (size, spare)


@pytest.mark.parametrize(
    ("overrides", "key"),
    [
        ({"adminCidrs": [f"198.51.{i}.0/24" for i in range(80)]}, "adminCidrs"),
        ({"deployerCidrs": [f"203.0.{i}.0/24" for i in range(80)], "adminCidrs": ["198.51.100.0/24"]}, "deployerCidrs"),
    ],
    ids=["admins", "deployers"],
)
def test_too_many_networks_name_the_key_that_grew_it_before_anything_is_registered(
    overrides: dict[str, object], key: str
) -> None:
    plan = Plan(stack="prod", preview=True)
    with pytest.raises(ConfigError) as caught:
        run_program("prod", overrides, preview=True, into=plan)
    lines = [line for line in str(caught.value).splitlines() if "over Hetzner's 32768" in line]
    assert len(lines) == 1 and lines[0].startswith(f"  - honeydue:{key}: the user data"), str(caught.value)
    assert "Cloudflare's published ranges: " in lines[0]
    assert [r.type for r in plan.registrations if not r.type.startswith(("pulumi:providers:", "pulumi:pulumi:"))] == []
