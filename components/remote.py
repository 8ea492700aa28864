"""Shipping files to a node and running a script there over SSH, as one POSIX sh command text.

Pure: plain values in, text out. Used by the K3s steps (components/k3s) and the firewall sync
(components/firewall/sync.py), which run the text with pulumi-command.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

_DELIMITER = "HONEYDUE_EOF"
_MODE = re.compile(r"0?[0-7]{3}")
# Paths are our own constants; the pattern keeps them free of anything a shell would interpret.
PATH = re.compile(r"(/[A-Za-z0-9_.+-]+)+")


@dataclass(frozen=True)
class RemoteFile:
    """A file the remote command writes before it runs its script."""

    path: str
    """Absolute path on the node."""
    mode: str
    """Octal permissions, e.g. "0600"."""
    content: str
    """Exact content (no NUL bytes)."""


def _delimiter(texts: Sequence[str]) -> str:
    """A heredoc delimiter that occurs nowhere in any text, so no content line can end a heredoc early."""
    candidate, n = _DELIMITER, 0
    while any(candidate in text for text in texts):
        n += 1
        candidate = f"{_DELIMITER}_{n}"
    return candidate


def _heredoc(target: str, text: str, delimiter: str) -> list[str]:
    """Shell lines writing `text` byte for byte to the file named by shell variable `target`."""
    body = text if not text or text.endswith("\n") else text + "\n"
    lines = [f"cat >\"${target}\" <<'{delimiter}'\n{body}{delimiter}"]
    if body != text:
        # A heredoc always ends with a newline; drop the one the content did not have.
        lines.append(f'truncate -s -1 "${target}"')
    return lines


def _check_path(path: str) -> None:
    if not PATH.fullmatch(path) or "/../" in path + "/" or "/./" in path + "/":
        raise ValueError(f"not a plain absolute path: {path!r}")


def remote_command(files: Sequence[RemoteFile], script: str, *, env_file: str | None = None) -> str:
    """The text pulumi-command runs over SSH: write `files` atomically, then run `script` with bash.

    POSIX sh, so it works whatever the login shell. Contents go through quoted heredocs only, never
    through shell parsing. Every path is prefixed with $HONEYDUE_ROOT (unset on nodes) so tests can
    run the same text in a throwaway root. `env_file` (one of our own constant paths) tells a script
    that acts for another node (server 1 for an agent) which env file to read: it is passed as
    HONEYDUE_ENV_FILE in the command text itself, never through sshd's environment. Deterministic.
    """
    for f in files:
        _check_path(f.path)
        if not _MODE.fullmatch(f.mode):
            raise ValueError(f"{f.path}: mode must be octal like 0600, got {f.mode!r}")
        if "\0" in f.content:
            raise ValueError(f"{f.path}: content must not contain NUL bytes")
    if "\0" in script:
        raise ValueError("script must not contain NUL bytes")
    delimiter = _delimiter([f.content for f in files] + [script])
    lines = [
        "set -eu",
        'root="${HONEYDUE_ROOT:-}"',
        # A failed run must not leave a half-written file (config.yaml holds the token) behind.
        'tmp=""',
        'run=""',
        'trap \'rm -f ${tmp:+"$tmp"} ${run:+"$run"}\' EXIT',
        # A dropped SSH session (HUP) or a kill still goes through the EXIT trap.
        "trap 'exit 129' HUP",
        "trap 'exit 130' INT",
        "trap 'exit 143' TERM",
    ]
    for f in files:
        path = shlex.quote(f.path)
        directory = shlex.quote(str(Path(f.path).parent))
        name = shlex.quote(f".{Path(f.path).name}.XXXXXX")
        lines += [
            # Only a missing directory is created: an existing one keeps its owner's mode.
            f'[ -d "$root"{directory} ] || install -d -m 0755 "$root"{directory}',
            # Same directory as the target, so the mv below is an atomic rename.
            f'tmp="$(mktemp "$root"{directory}/{name})"',
            *_heredoc("tmp", f.content, delimiter),
            f'chmod {f.mode} "$tmp"',
            f'mv -f "$tmp" "$root"{path}',
            'tmp=""',
        ]
    if env_file is not None:
        _check_path(env_file)
        lines += [f"HONEYDUE_ENV_FILE={shlex.quote(env_file)}", "export HONEYDUE_ENV_FILE"]
    lines += [
        'run="$(mktemp)"',
        *_heredoc("run", script, delimiter),
        # From a file, not stdin: a command in the script that reads stdin would swallow the rest of it.
        'bash "$run" </dev/null',
    ]
    return "\n".join(lines) + "\n"
