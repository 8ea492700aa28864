"""components/remote.py's command text run for real with sh and bash: secrets from stdin, the node-side bound.

The rest of remote_command (heredocs, atomic writes, cleanup) is covered in tests/test_k3s_node.py.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import time
from pathlib import Path

import pytest

from components.remote import RemoteFile, StdinFile, remote_command

SHELLS = [sh for sh in ("bash", "sh") if shutil.which(sh)]  # sh: dash on Debian, POSIX only
SECRET_FILE = StdinFile("/etc/rancher/k3s/config.yaml.d/00-honeydue-secrets.yaml")
SECRET = "token: K10-stdin-secret\netcd-s3-secret-key: 'x y'\n"
# The script records its own stdin and the drop-in's mode while it runs.
PROBE = (
    'cat >"$HONEYDUE_ROOT/script-stdin"\n'
    'stat -c %a "$HONEYDUE_ROOT/etc/rancher/k3s/config.yaml.d/00-honeydue-secrets.yaml" >"$HONEYDUE_ROOT/mode"\n'
)


def run(command: str, root: Path, stdin: bytes, shell: str = "sh") -> subprocess.CompletedProcess[bytes]:
    (root.parent / "tmp").mkdir(exist_ok=True)
    env = {"PATH": os.environ["PATH"], "HONEYDUE_ROOT": str(root), "TMPDIR": str(root.parent / "tmp")}
    return subprocess.run([shell, "-c", command], input=stdin, capture_output=True, env=env, timeout=20)


@pytest.mark.parametrize("shell", SHELLS)
def test_stdin_goes_to_a_0600_file_before_the_script_runs(tmp_path: Path, shell: str) -> None:
    root = tmp_path / "root"
    (root / "etc/rancher/k3s").mkdir(parents=True)
    files = [RemoteFile("/etc/rancher/k3s/config.yaml", "0600", "node-name: honeydue-1\n")]
    command = remote_command(files, PROBE, time_limit=60, stdin_file=SECRET_FILE)
    assert "K10-stdin-secret" not in command

    proc = run(command, root, SECRET.encode(), shell)

    assert proc.returncode == 0, proc.stderr.decode()
    written = root / SECRET_FILE.path.lstrip("/")
    assert written.read_text() == SECRET
    assert stat.S_IMODE(written.stat().st_mode) == 0o600
    assert (root / "mode").read_text().strip() == "600"
    # Everything on stdin went to the file; the script's own stdin is /dev/null.
    assert (root / "script-stdin").read_bytes() == b""
    assert not [p for p in root.rglob(".*") if p.is_file()]


def test_the_drop_in_directory_is_created_and_the_file_replaced_atomically(tmp_path: Path) -> None:
    root = tmp_path / "root"
    target = root / SECRET_FILE.path.lstrip("/")
    command = remote_command([], "true\n", time_limit=60, stdin_file=SECRET_FILE)
    assert run(command, root, b"token: old\n").returncode == 0
    target.chmod(0o644)  # a hand-edited mode is put back

    assert run(command, root, SECRET.encode()).returncode == 0

    assert target.read_text() == SECRET and stat.S_IMODE(target.stat().st_mode) == 0o600


def test_empty_stdin_fails_before_writing_or_running_anything(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    command = remote_command(
        [RemoteFile("/etc/x", "0644", "x\n")], 'touch "$HONEYDUE_ROOT/ran"\n', time_limit=60, stdin_file=SECRET_FILE
    )

    proc = run(command, root, b"")

    assert proc.returncode == 1
    assert f"nothing on stdin for {SECRET_FILE.path}" in proc.stderr.decode()
    assert not (root / "ran").exists() and not (root / "etc/x").exists()
    assert not (root / SECRET_FILE.path.lstrip("/")).exists()
    assert not [p for p in root.rglob(".*") if p.is_file()]


@pytest.mark.parametrize("shell", SHELLS)
def test_a_hung_script_is_stopped_at_the_time_limit(tmp_path: Path, shell: str) -> None:
    """pulumi-command's timeouts do not stop a running session (session.Run takes no context), so the node does."""
    root = tmp_path / "root"
    root.mkdir()
    command = remote_command([], 'echo $$ >"$HONEYDUE_ROOT/pid"\nsleep 300\n', time_limit=1)

    started = time.monotonic()
    proc = run(command, root, b"", shell)

    assert time.monotonic() - started < 10
    assert proc.returncode == 124
    assert "the step did not finish within 1s on this node: stopped" in proc.stderr.decode()
    pid = int((root / "pid").read_text())
    assert not Path(f"/proc/{pid}").exists()
    assert not list((tmp_path / "tmp").iterdir())


def test_a_script_exit_code_passes_through_the_bound(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    proc = run(remote_command([], "exit 7\n", time_limit=60), root, b"")
    assert proc.returncode == 7 and b"did not finish" not in proc.stderr


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"time_limit": 0}, "time_limit"),
        ({"time_limit": 60, "stdin_file": StdinFile("etc/relative")}, "absolute path"),
        ({"time_limit": 60, "stdin_file": StdinFile("/etc/x", "644; rm")}, "mode"),
    ],
)
def test_bad_arguments_are_rejected(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        remote_command([], "true\n", **kwargs)  # type: ignore[arg-type]


def test_written_files_reads_back_every_file_a_command_writes() -> None:
    # offline/plan.py renders a node's files from its step's text: the inverse of remote_command.
    from components.remote import written_files

    files = [
        RemoteFile("/etc/rancher/k3s/config.yaml", "0600", "a: 'HONEYDUE_EOF'\n"),
        RemoteFile("/etc/honeydue/no-newline", "0644", "x"),
        RemoteFile("/etc/honeydue/empty", "0755", ""),
    ]
    text = remote_command(files, "echo ok\n", time_limit=10)
    assert written_files(text) == {f.path: f for f in files}
