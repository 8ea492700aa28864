"""Pure tests of components/k3s/node.py and scripts.py: config.yaml, the env file, and the remote command text
run for real."""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.config.model import EtcdS3Config, Secret
from components.k3s.node import (
    CONFIG_PATH,
    ENV_PATH,
    SECRET_KEYS,
    K3sNodeSettings,
    cluster_flags,
    config_warnings,
    k3s_config_yaml,
    node_config,
    node_env,
    node_files,
    render_env,
    secrets_yaml,
)
from components.k3s.scripts import (
    LIB_DIR,
    SCRIPT_NAMES,
    SCRIPTS_DIR,
    agent_env_path,
    converge_files,
    lib_file,
    script,
    script_command,
)
from components.remote import RemoteFile, remote_command
from tests.k3s_settings import node_settings

TOKEN = "K10-token"
LIMIT = 60
PRIVATE = ("10.0.1.2", "10.0.1.3", "10.0.1.4")
PUBLIC4 = ("203.0.113.10", "203.0.113.11", "203.0.113.12")
PUBLIC6 = ("2001:db8:1::1", "2001:db8:2::1", "2001:db8:3::1")
SANS = (*PRIVATE, *PUBLIC4, *PUBLIC6, "k8s.example.test")
S3 = EtcdS3Config(
    bucket="honeydue-etcd",
    folder="prod",
    endpoint="s3.eu-central-003.backblazeb2.com",
    region="eu-central-003",
    access_key=Secret("etcdS3AccessKey", "key-id"),
    secret_key=Secret("etcdS3SecretKey", "app-key"),
    retention=14,
)
FAKES = Path(__file__).parent / "fakes_k3s"


def server(i: int, **overrides: Any) -> K3sNodeSettings:
    """Server i (0-based) of the prod-shaped cluster: 0 inits, the others join it."""
    values: dict[str, Any] = {
        "node_name": f"honeydue-{i + 1}",
        "role": "init" if i == 0 else "join",
        "join_url": None if i == 0 else f"https://{PRIVATE[0]}:6443",
        "node_ip": PRIVATE[i],
        "external_ips": (PUBLIC4[i], PUBLIC6[i]),
        "tls_sans": SANS,
        "cluster_cidr": "10.42.0.0/16",
        "service_cidr": "10.43.0.0/16",
        "kube_proxy_mode": "ipvs",
        "flannel_backend": "vxlan",
        "etcd_snapshot_schedule": "0 */6 * * *",
        "etcd_snapshot_retention": 20,
        "etcd_s3": S3,
        "version": "v1.34.6+k3s1",
    }
    return node_settings(values | overrides)


def config(s: K3sNodeSettings) -> dict[str, Any]:
    """What K3s reads: config.yaml merged with the secrets drop-in (disjoint keys, so order is moot)."""
    public, secret = yaml.safe_load(k3s_config_yaml(s)), yaml.safe_load(secrets_yaml(s, TOKEN))
    assert isinstance(public, dict) and isinstance(secret, dict)
    assert not set(public) & set(secret)
    assert public | secret == node_config(s, TOKEN)
    return public | secret


# --- config.yaml ----------------------------------------------------------------------------------------


def test_init_server_config() -> None:
    c = config(server(0))
    assert c["cluster-init"] is True
    assert "server" not in c
    assert c["token"] == TOKEN
    assert c["node-name"] == "honeydue-1"
    assert c["node-ip"] == c["advertise-address"] == "10.0.1.2"
    assert c["node-external-ip"] == ["203.0.113.10", "2001:db8:1::1"]
    assert c["tls-san"] == list(SANS)
    assert c["cluster-cidr"] == "10.42.0.0/16" and c["service-cidr"] == "10.43.0.0/16"
    assert c["flannel-backend"] == "vxlan"
    assert c["kube-proxy-arg"] == ["proxy-mode=ipvs"]
    assert c["write-kubeconfig-mode"] == "0600"
    assert c["etcd-snapshot-schedule-cron"] == "0 */6 * * *" and c["etcd-snapshot-retention"] == 20
    # Found on the node by install.sh, never guessed here.
    assert "flannel-iface" not in c


@pytest.mark.parametrize("i", [1, 2])
def test_join_server_config(i: int) -> None:
    c = config(server(i))
    assert c["server"] == "https://10.0.1.2:6443"
    assert "cluster-init" not in c
    assert c["node-ip"] == c["advertise-address"] == PRIVATE[i]
    assert c["node-external-ip"] == [PUBLIC4[i], PUBLIC6[i]]


def test_cluster_flags_identical_on_every_server() -> None:
    servers = [server(i) for i in range(3)]
    flags = [cluster_flags(s) for s in servers]
    assert flags[0] == flags[1] == flags[2]
    for s in servers:
        c = config(s)
        assert {k: c[k] for k in flags[0]} == flags[0]
    node_keys = {
        "token",
        "node-name",
        "node-ip",
        "advertise-address",
        "node-external-ip",
        "tls-san",
        "cluster-init",
        "server",
    }
    assert node_keys.isdisjoint(flags[0])


@pytest.mark.parametrize("mode", ["ipvs", "iptables", "nftables"])
@pytest.mark.parametrize("backend", ["vxlan", "wireguard-native"])
@pytest.mark.parametrize("i", [0, 1])
def test_secrets_encryption_and_no_servicelb_always(mode: str, backend: str, i: int) -> None:
    c = config(server(i, kube_proxy_mode=mode, flannel_backend=backend, etcd_s3=None))
    assert c["secrets-encryption"] is True
    assert c["disable"] == ["servicelb"]
    assert c["kube-proxy-arg"] == [f"proxy-mode={mode}"]
    assert c["flannel-backend"] == backend


def test_etcd_s3_on() -> None:
    c = config(server(1))
    assert c["etcd-s3"] is True
    assert c["etcd-s3-endpoint"] == "s3.eu-central-003.backblazeb2.com"
    assert c["etcd-s3-bucket"] == "honeydue-etcd"
    assert c["etcd-s3-folder"] == "prod"
    assert c["etcd-s3-region"] == "eu-central-003"
    assert c["etcd-s3-access-key"] == "key-id"
    assert c["etcd-s3-secret-key"] == "app-key"
    # Its own retention since K3s's 2025-08 releases (k3s-io/k3s#12669), else 5 in the bucket.
    assert c["etcd-s3-retention"] == 14 and c["etcd-snapshot-retention"] == 20


def test_etcd_s3_off() -> None:
    c = config(server(0, etcd_s3=None))
    assert not [k for k in c if k.startswith("etcd-s3")]
    assert c["etcd-snapshot-retention"] == 20  # local snapshots stay on


def test_config_yaml_is_sorted_deterministic_and_quotes_the_mode() -> None:
    text = k3s_config_yaml(server(1))
    assert text == k3s_config_yaml(server(1))
    keys = [line.split(":")[0] for line in text.splitlines() if line and not line.startswith(("-", " "))]
    assert keys == sorted(keys)
    # Unquoted, YAML 1.1 would read 0600 as the octal integer 384.
    assert "write-kubeconfig-mode: '0600'" in text


def test_token_with_yaml_syntax_round_trips() -> None:
    token = "K10abc::server:x # not a comment\n- nor a list"
    assert yaml.safe_load(secrets_yaml(server(0), token))["token"] == token
    with pytest.raises(ValueError, match="token"):
        secrets_yaml(server(0), "")


@pytest.mark.parametrize("s", [server(0), server(1), server(1, etcd_s3=None)], ids=["init", "join", "no-s3"])
def test_config_yaml_holds_no_secret_and_the_drop_in_holds_only_secrets(s: K3sNodeSettings) -> None:
    """config.yaml is shown in previews (it is in the `create` text); the token and S3 keys go on stdin."""
    public = k3s_config_yaml(s)
    for secret in (TOKEN, "key-id", "app-key"):
        assert secret not in public
    assert not SECRET_KEYS & set(yaml.safe_load(public))
    drop_in = yaml.safe_load(secrets_yaml(s, TOKEN))
    assert set(drop_in) == ({"token"} | ({"etcd-s3-access-key", "etcd-s3-secret-key"} if s.cluster.etcd_s3 else set()))


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"role": "join", "join_url": None}, "join_url is required"),
        ({"join_url": "https://10.0.1.2:6443"}, "join_url is required for role join and forbidden"),
        ({"role": "join", "join_url": "10.0.1.2:6443"}, "https URL"),
        ({"node_ip": "10.0.1"}, "10.0.1"),
        ({"external_ips": ("203.0.113.300",)}, "203.0.113.300"),
        ({"ready_timeout": 0}, "ready_timeout"),
    ],
)
def test_settings_are_validated(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        server(0, **overrides)


def test_ipvs_deprecation_warning() -> None:
    assert "deprecated from Kubernetes 1.35" in config_warnings(server(0).cluster.kube_proxy_mode)[0]
    assert config_warnings(server(0, kube_proxy_mode="nftables").cluster.kube_proxy_mode) == ()


# --- env file -------------------------------------------------------------------------------------------


def source(env_text: str, keys: list[str], tmp_path: Path) -> dict[str, str]:
    """Source env_text with bash and read the variables back, NUL-separated."""
    env_file = tmp_path / "k3s.env"
    env_file.write_text(env_text)
    printed = " ".join(f'"${k}"' for k in keys)
    out = subprocess.run(
        ["bash", "-c", f'set -eu; . "$1"; printf "%s\\0" {printed}', "bash", str(env_file)],
        capture_output=True,
        check=True,
        env={"PATH": os.environ["PATH"]},
    ).stdout
    return dict(zip(keys, out.decode().split("\0")[:-1], strict=True))


def test_env_values_round_trip_through_bash(tmp_path: Path) -> None:
    values = {
        "QUOTE": 'it\'s "quoted"',
        "SPACES": "  two  spaces  ",
        "SUBST": "$(touch pwned) `touch pwned` ${HOME}",
        "NEWLINE": "line 1\nline 2\n",
        "GLOB": "* ? [a]",
        "EMPTY": "",
        "BACKSLASH": "a\\b\\",
    }
    assert source(render_env(values), list(values), tmp_path) == values
    assert not (tmp_path / "pwned").exists() and not Path("pwned").exists()


def test_node_env_has_what_the_scripts_read(tmp_path: Path) -> None:
    s = server(1)
    keys = ["K3S_VERSION", "NODE_NAME", "NODE_IP", "ROLE", "READY_TIMEOUT", "DRAIN_TIMEOUT", "POLL_INTERVAL"]
    assert source(node_env(s), keys, tmp_path) == {
        "K3S_VERSION": "v1.34.6+k3s1",
        "NODE_NAME": "honeydue-2",
        "NODE_IP": "10.0.1.3",
        "ROLE": "join",
        "READY_TIMEOUT": "600",
        "DRAIN_TIMEOUT": "600",
        "POLL_INTERVAL": "5",
    }
    assert "token" not in node_env(s).lower() and "app-key" not in node_env(s)


def test_the_env_file_defines_exactly_what_the_scripts_read() -> None:
    """Every upper-case variable a script reads comes from the env file, and every key there is read."""
    rendered = {line.split("=")[0] for line in node_env(server(1)).splitlines() if not line.startswith("#")}
    used: set[str] = set()
    for name in SCRIPT_NAMES:
        code = "\n".join(line for line in script(name).splitlines() if not line.lstrip().startswith("#"))
        refs = set(re.findall(r"\$\{?([A-Z][A-Z0-9_]*)", code))
        for expr in re.findall(r"\(\((.*?)\)\)", code):
            refs |= set(re.findall(r"\b[A-Z][A-Z0-9_]*\b", expr))
        # The test root, the env file's path for steps server 1 runs for an agent (remote_command sets
        # it), bash's clock, and the kubernetes Service the kured pod's environment names (reboot-check.sh,
        # which kured runs).
        refs -= {"HONEYDUE_ROOT", "HONEYDUE_ENV_FILE", "SECONDS", "KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT"}
        assert refs <= rendered, (name, refs - rendered)
        used |= refs
    assert used == rendered


def test_render_env_rejects_bad_names() -> None:
    with pytest.raises(ValueError, match="shell variable"):
        render_env({"A; rm -rf /": "x"})


def test_node_files() -> None:
    config_file, env_file = node_files(server(0))
    assert (config_file.path, config_file.mode) == (CONFIG_PATH, "0600")
    assert config_file.content == k3s_config_yaml(server(0))
    assert (env_file.path, env_file.mode, env_file.content) == (ENV_PATH, "0644", node_env(server(0)))


# --- remote_command -------------------------------------------------------------------------------------

NASTY = [
    RemoteFile("/etc/rancher/k3s/config.yaml", "0600", "token: 'it''s'\nEOF\n$(touch pwned)\n`touch pwned`\n"),
    RemoteFile("/etc/honeydue/k3s.env", "0644", "A=\"$HOME\" 'b' \\n \\\nHONEYDUE_EOF\nHONEYDUE_EOF_1\n"),
    RemoteFile("/etc/honeydue/no-newline", "0640", "no trailing newline\\"),
    RemoteFile("/etc/honeydue/empty", "0600", ""),
    RemoteFile("/etc/honeydue/blank-lines", "0644", "\n\n\n"),
    RemoteFile("/opt/x/unicode.txt", "0755", "Grüße ✓\r\nCRLF\r\n\ttab\n"),
]
TRIVIAL = 'printf "%s\\n" "$BASH_VERSION" >"$HONEYDUE_ROOT/ran"\ncat >"$HONEYDUE_ROOT/stdin"\n'
SHELLS = [sh for sh in ("bash", "sh") if shutil.which(sh)]  # sh: dash on Debian, POSIX only


def run_remote(command: str, root: Path, shell: str = "bash") -> subprocess.CompletedProcess[bytes]:
    env = {"PATH": os.environ["PATH"], "HONEYDUE_ROOT": str(root), "TMPDIR": str(root.parent / "tmp")}
    (root.parent / "tmp").mkdir(exist_ok=True)
    return subprocess.run(
        [shell, "-c", command], input=b"must not reach the script", capture_output=True, env=env, cwd=root.parent
    )


@pytest.mark.parametrize("shell", SHELLS)
def test_remote_command_writes_files_byte_for_byte(tmp_path: Path, shell: str) -> None:
    root = tmp_path / "root"
    root.mkdir()
    proc = run_remote(remote_command(NASTY, TRIVIAL, time_limit=LIMIT), root, shell)

    assert proc.returncode == 0, proc.stderr.decode()
    for f in NASTY:
        written = root / f.path.lstrip("/")
        assert written.read_bytes() == f.content.encode(), f.path
        assert stat.S_IMODE(written.stat().st_mode) == int(f.mode, 8), f.path
    assert (root / "ran").read_text().strip(), "the script did not run with bash"
    assert (root / "stdin").read_bytes() == b""  # the script's stdin is /dev/null
    assert not list(tmp_path.rglob("pwned"))
    # No temporary file left next to the targets or in TMPDIR.
    assert not [p for p in root.rglob(".*") if p.is_file()]
    assert not list((tmp_path / "tmp").iterdir())


def test_remote_command_replaces_existing_files_and_keeps_existing_dir_modes(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "etc/honeydue").mkdir(parents=True)
    (root / "etc/honeydue").chmod(0o700)
    (root / "etc/honeydue/k3s.env").write_text("old content that is longer than the new one\n")
    (root / "etc/honeydue/k3s.env").chmod(0o666)

    proc = run_remote(remote_command([RemoteFile(ENV_PATH, "0644", "NEW=1\n")], "true\n", time_limit=LIMIT), root)

    assert proc.returncode == 0, proc.stderr.decode()
    assert (root / "etc/honeydue/k3s.env").read_text() == "NEW=1\n"
    assert stat.S_IMODE((root / "etc/honeydue/k3s.env").stat().st_mode) == 0o644
    assert stat.S_IMODE((root / "etc/honeydue").stat().st_mode) == 0o700


def test_remote_command_fails_with_the_script_and_cleans_up(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    proc = run_remote(remote_command(NASTY[:1], "echo boom >&2\nexit 7\n", time_limit=LIMIT), root)
    assert proc.returncode == 7 and b"boom" in proc.stderr
    assert not list((tmp_path / "tmp").iterdir())


# The script's parent is `timeout` (the node-side bound); the remote shell is its parent.
KILL_SHELL = 'kill -TERM "$(ps -o ppid= -p "$PPID")"\n'


@pytest.mark.parametrize("shell", SHELLS)
def test_remote_command_cleans_up_when_killed(tmp_path: Path, shell: str) -> None:
    """A dropped session or a kill (here TERM to the remote shell) still removes the temporary files."""
    root = tmp_path / "root"
    root.mkdir()
    proc = run_remote(remote_command(NASTY[:1], KILL_SHELL, time_limit=LIMIT), root, shell)
    assert proc.returncode == 143
    assert not list((tmp_path / "tmp").iterdir())


def test_remote_command_delimiter_is_absent_from_every_content() -> None:
    command = remote_command(NASTY, TRIVIAL, time_limit=LIMIT)
    assert "<<'HONEYDUE_EOF_2'" in command
    assert "<<'HONEYDUE_EOF'" not in command and "<<'HONEYDUE_EOF_1'" not in command
    assert remote_command(NASTY, TRIVIAL, time_limit=LIMIT) == command  # deterministic
    assert "<<'HONEYDUE_EOF'" in remote_command([RemoteFile("/etc/x", "0600", "plain\n")], "true\n", time_limit=LIMIT)


def test_remote_command_splices_no_content_into_shell_code() -> None:
    """Every content line sits inside a quoted heredoc: outside them only our own fixed lines remain."""
    command = remote_command(NASTY, TRIVIAL, time_limit=LIMIT)
    outside: list[str] = []
    in_heredoc = None
    for line in command.splitlines():
        if in_heredoc:
            in_heredoc = None if line == in_heredoc else in_heredoc
        elif line.startswith("cat >") and "<<'" in line:
            in_heredoc = line.split("<<'")[1].rstrip("'")
            outside.append(line)
        else:
            outside.append(line)
    text = "\n".join(outside)
    for needle in ("touch pwned", "it''s", "Grüße", "no trailing newline"):
        assert needle not in text


@pytest.mark.parametrize(
    ("file", "message"),
    [
        (RemoteFile("etc/relative", "0600", ""), "absolute path"),
        (RemoteFile("/etc/a b", "0600", ""), "absolute path"),
        (RemoteFile("/etc/$(x)", "0600", ""), "absolute path"),
        (RemoteFile("/etc/../root/x", "0600", ""), "absolute path"),
        (RemoteFile("/etc/x", "600; rm", ""), "mode"),
        (RemoteFile("/etc/x", "0800", ""), "mode"),
        (RemoteFile("/etc/x", "0600", "a\0b"), "NUL"),
    ],
)
def test_remote_command_rejects_bad_files(file: RemoteFile, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        remote_command([file], "true\n", time_limit=LIMIT)


# --- scripts --------------------------------------------------------------------------------------------


def test_script_reads_each_file() -> None:
    assert sorted(p.stem for p in SCRIPTS_DIR.glob("*.sh")) == sorted(SCRIPT_NAMES)
    for name in SCRIPT_NAMES:
        text = script(name)
        assert text.startswith("#!/usr/bin/env bash\n"), name
        assert "\nset -euo pipefail\n" in text, name
        assert "HONEYDUE_ROOT" in text, name
    with pytest.raises(ValueError, match="unknown K3s script"):
        script("../../etc/passwd")


def shellcheck_or_skip() -> str:
    found = shutil.which("shellcheck")
    if found:
        return found
    if os.environ.get("CI"):
        pytest.fail("shellcheck is required in CI (Debian package shellcheck)")
    pytest.skip("shellcheck not installed")


@pytest.mark.parametrize("name", SCRIPT_NAMES)
def test_script_passes_shellcheck(name: str) -> None:
    # -x: follow the `. lib.sh` every script sources (its directive names it relative to SCRIPTDIR).
    proc = subprocess.run([shellcheck_or_skip(), "-x", str(SCRIPTS_DIR / f"{name}.sh")], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout


def test_fakes_pass_shellcheck() -> None:
    fakes = sorted(p for p in FAKES.rglob("*") if p.is_file() and p.suffix != ".md")
    proc = subprocess.run([shellcheck_or_skip(), *map(str, fakes)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout


def test_remote_command_text_passes_shellcheck(tmp_path: Path) -> None:
    path = tmp_path / "remote.sh"
    path.write_text("#!/bin/sh\n" + script_command("install", node_files(server(1))))
    proc = subprocess.run([shellcheck_or_skip(), str(path)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout


# --- agents ---------------------------------------------------------------------------------------------


def agent(**overrides: Any) -> K3sNodeSettings:
    values: dict[str, Any] = {
        "node_name": "honeydue-agent-1",
        "role": "agent",
        "join_url": f"https://{PRIVATE[0]}:6443",
        "node_ip": "10.0.1.11",
        "external_ips": ("203.0.113.20",),
        "tls_sans": (),
        "etcd_s3": None,
    }
    return server(0, **(values | overrides))


def test_agent_config_has_only_agent_flags() -> None:
    c = config(agent())
    assert c == {
        "server": "https://10.0.1.2:6443",
        "token": TOKEN,
        "node-name": "honeydue-agent-1",
        "node-ip": "10.0.1.11",
        "node-external-ip": ["203.0.113.20"],
        "kube-proxy-arg": ["proxy-mode=ipvs"],
    }
    # Whatever its settings carry, an agent gets none of the servers' cluster flags but the kube-proxy mode.
    server_only = set(cluster_flags(server(0))) - {"kube-proxy-arg"}
    assert not server_only & set(config(agent(etcd_s3=S3, tls_sans=SANS)))
    assert config(agent(kube_proxy_mode="nftables"))["kube-proxy-arg"] == ["proxy-mode=nftables"]


def test_agent_needs_the_join_url() -> None:
    with pytest.raises(ValueError, match="role agent needs it"):
        agent(join_url=None)


def test_agent_env_says_agent(tmp_path: Path) -> None:
    assert source(node_env(agent()), ["ROLE", "NODE_NAME"], tmp_path) == {
        "ROLE": "agent",
        "NODE_NAME": "honeydue-agent-1",
    }


def test_agent_env_path() -> None:
    assert agent_env_path("honeydue-agent-7") == "/etc/honeydue/agents/honeydue-agent-7.env"
    with pytest.raises(ValueError, match="node name"):
        agent_env_path("a b")


def test_remote_command_names_the_env_file_for_the_script(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    env_path = agent_env_path("honeydue-agent-1")
    files = [RemoteFile(env_path, "0644", node_env(agent()))]
    script_text = 'printf "%s" "$HONEYDUE_ENV_FILE" >"$HONEYDUE_ROOT/env-file"\n'

    proc = run_remote(remote_command(files, script_text, env_file=env_path, time_limit=LIMIT), root)

    assert proc.returncode == 0, proc.stderr.decode()
    assert (root / "env-file").read_text() == env_path
    assert (root / env_path.lstrip("/")).read_text() == node_env(agent())
    assert "export HONEYDUE_ENV_FILE" not in remote_command(files, script_text, time_limit=LIMIT)
    for bad in ("etc/relative.env", "/etc/$(x).env", "/etc/../x.env"):
        with pytest.raises(ValueError, match="absolute path"):
            remote_command(files, script_text, env_file=bad, time_limit=LIMIT)


def test_agent_remote_command_text_passes_shellcheck(tmp_path: Path) -> None:
    env_path = agent_env_path("honeydue-agent-1")
    texts = {
        "install": script_command("install", node_files(agent())),
        "ready": remote_command(
            [RemoteFile(env_path, "0644", node_env(agent()))],
            script("agent-ready"),
            env_file=env_path,
            time_limit=LIMIT,
        ),
    }
    for name, text in texts.items():
        path = tmp_path / f"{name}.sh"
        path.write_text("#!/bin/sh\n" + text)
        proc = subprocess.run([shellcheck_or_skip(), str(path)], capture_output=True, text=True)
        assert proc.returncode == 0, (name, proc.stdout)


def test_every_script_command_ships_the_lib_its_script_sources_once() -> None:
    lib = lib_file()
    assert lib.path == f"{LIB_DIR}/lib.sh" and lib.content == script("lib")
    for name in SCRIPT_NAMES:
        if name != "lib":
            assert f'. "${{HONEYDUE_ROOT:-}}{lib.path}"' in script(name), name
    # Written as the last file, before the script runs; converge_files carry it already, so not twice.
    for files in ([], [*node_files(server(1)), *converge_files()]):
        command = script_command("install", files)
        assert command.count(f'mv -f "$tmp" "$root"{lib.path}') == 1
        assert command.index(lib.path) < command.index('run="$(mktemp)"')
