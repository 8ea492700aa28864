"""Reads raw stack-config strings by key, converting them and collecting every problem.

`Reader` is shared by the section readers (`read_cluster`, `read_apps`); `ConfigError` carries all problems
at once (a `pulumi.RunError`, which the CLI prints without a traceback).
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Collection, Mapping
from typing import Literal

import pulumi

from components.config import checks as check
from components.config import credentials, hosts
from components.config.model import Secret

NAMESPACE = "honeydue"
Kind = Literal["string", "integer", "boolean", "array"]


PLACEHOLDER = re.compile(r"replace[-_ ]?me", re.ASCII | re.IGNORECASE)
"""The shape of the placeholders the ESC files commit (esc/*.yaml): a secret holding it was never set."""


class ConfigError(pulumi.RunError):
    """Every problem of the stack config, one line each; raised before anything is created."""

    def __init__(self, problems: list[str], missing_secrets: list[str]) -> None:
        self.problems = problems
        self.missing_secrets = missing_secrets
        lines = [f"the stack config has {len(problems) + len(missing_secrets)} problem(s):"]
        lines += [f"  - {p}" for p in problems]
        if missing_secrets:
            lines.append("  - required secrets are not set; set each with:")
            lines += [f"      pulumi config set --secret {NAMESPACE}:{k} <value>" for k in missing_secrets]
        super().__init__("\n".join(lines))


# A secret longer than this is a paste of something else. It also bounds the Secrets the stack writes: the apps'
# Secret holds fewer than 16 of them, far below the 1 MiB a Kubernetes Secret may hold (tests/test_hostile_config.py).
SECRET_MAX_CHARS = 4096
_INTEGER = re.compile(r"-?(?:0|[1-9][0-9]{0,18})", re.ASCII)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]", re.ASCII)


def _invisible(value: str) -> str:
    """The code point of the first character a reader of the value would not see, or "" (format characters
    such as U+200B or U+FEFF, line and paragraph separators, spaces other than the ASCII one)."""
    for char in value:
        category = unicodedata.category(char)
        if category in ("Cf", "Zl", "Zp") or (category == "Zs" and char != " "):
            return f"U+{ord(char):04X}"
    return ""


def _plain_text(value: str) -> str | None:
    """No control characters (a trailing newline included) and no surrounding blanks in any string."""
    if _CONTROL.search(value):
        return f"{value!r} holds a control character (a trailing newline?)"
    if value != value.strip():
        return f"{value!r} has leading or trailing blanks"
    return None


def _secret_problem(value: str, token: bool | credentials.TokenShape) -> str | None:
    """What is wrong with a secret's value, never quoting it."""
    if len(value) > SECRET_MAX_CHARS:
        return f"is longer than {SECRET_MAX_CHARS} characters (a paste of something else?)"
    if _CONTROL.search(value):
        return "holds a control character (a trailing newline?); the value is not shown"
    if hidden := _invisible(value):
        return f"holds an invisible or non-ASCII space character ({hidden}); the value is not shown"
    if len(set(value)) == 1:
        return "is one character repeated (a placeholder?); the value is not shown"
    if token:
        # API tokens and keys travel in HTTP headers: a blank inside is always a paste error.
        return credentials.token(value, token if isinstance(token, credentials.TokenShape) else None)
    return None


class Reader:
    """Reads raw string values by key, converting and collecting problems instead of raising."""

    def __init__(
        self, values: Mapping[str, str], secret_keys: Collection[str], environ: Mapping[str, str] | None = None
    ) -> None:
        self.values = values
        self.secret_keys = secret_keys
        self.environ = environ or {}
        self.problems: list[str] = []
        self.missing_secrets: list[str] = []
        self.kinds: dict[str, tuple[Kind, bool]] = {}
        self.environment_names: list[str] = []

    def environment_token(self, name: str, shape: credentials.TokenShape, where: str) -> str:
        """A provider's credential from the environment of the run (ESC `environmentVariables`), never stack
        config: a provider input would be written to the state. Returns the value only to compare roles."""
        self.environment_names.append(name)
        value = self.environ.get(name, "")
        if not value or PLACEHOLDER.search(value):
            self.problems.append(f"{name} (environment): is not set; {where}")
            return ""
        problem = _secret_problem(value, shape)
        if problem:
            self.problems.append(f"{name} (environment): {problem}")
        return value

    def problem(self, key: str, message: str) -> None:
        self.problems.append(f"{NAMESPACE}:{key}: {message}")

    def has_problem(self, key: str) -> bool:
        """Whether a problem of `key` is already reported (a later check would only repeat it)."""
        return any(p.startswith(f"{NAMESPACE}:{key}:") for p in self.problems)

    def _raw(self, key: str, kind: Kind, *, secret: bool = False) -> str | None:
        self.kinds[key] = (kind, secret)
        return self.values.get(key)

    def string(self, key: str, *, optional: bool = False) -> str:
        value = self._raw(key, "string")
        if value is None or (value == "" and not optional):
            if not optional:
                self.problem(key, f"is required; set it with: pulumi config set {NAMESPACE}:{key} <value>")
            return ""
        self.check(key, _plain_text(value))
        return value

    def integer(self, key: str, *, minimum: int = 1, maximum: int = check.INT32_MAX) -> int:
        value = self._raw(key, "integer")
        if value is None:
            self.problem(key, f"is required; set it with: pulumi config set {NAMESPACE}:{key} <number>")
            return minimum
        # int() would also take " 3\n", "3_000", "+3" and non-ASCII digits.
        if not _INTEGER.fullmatch(value):
            self.problem(key, f"must be an integer, got {value!r}")
            return minimum
        number = int(value)
        if number < minimum:
            self.problem(key, f"must be at least {minimum}, got {number}")
        elif number > maximum:
            self.problem(key, f"must be at most {maximum}, got {number}")
        # Refused values come back within bounds, so the checks that read them after (addresses of 4 billion
        # agents) see a number they can work with; the problem above already names the key.
        return min(max(number, minimum), maximum)

    def boolean(self, key: str) -> bool:
        value = self._raw(key, "boolean")
        if value in ("true", "false"):
            return value == "true"
        self.problem(key, "is required (true or false)" if value is None else f"must be true or false, got {value!r}")
        return False

    def strings(self, key: str) -> tuple[str, ...]:
        value = self._raw(key, "array")
        if value is None:
            self.problem(key, f"is required; set it with: pulumi config set --path '{NAMESPACE}:{key}[0]' <value>")
            return ()
        try:
            items = json.loads(value)
        except json.JSONDecodeError:
            items = None
        if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
            how = f"pulumi config set --path '{NAMESPACE}:{key}[0]' <value>"
            self.problem(key, f"must be a list of strings; set an item with: {how}")
            return ()
        return tuple(items)

    def secret(
        self,
        key: str,
        *,
        required: bool = True,
        token: bool | credentials.TokenShape = False,
        file_content: bool = False,
    ) -> Secret:
        """A secret; `token` checks it as an API token (and against its issuer's shape when one is given)."""
        value = self._raw(key, "string", secret=True)
        if value and file_content:
            # `pulumi config set --secret ... < file` keeps the file's final newline; programs that read such
            # a file trim it (K3s: pkg/cluster/storage.go, readTokenFromFile: bytes.TrimRight(b, "\n")).
            value = value.rstrip("\r\n")
        if not value or PLACEHOLDER.search(value):
            # esc/*.yaml commit `REPLACE-ME-with-esc-env-set` for every secret: a forgotten `esc env set` is an
            # unset secret, never a token on the nodes.
            if required or value:
                self.missing_secrets.append(key)
            return Secret(key, "")
        self.check(key, _secret_problem(value, token))
        if key not in self.secret_keys:
            self.problem(
                key, f"is stored in plaintext; re-set it with: pulumi config set --secret {NAMESPACE}:{key} <value>"
            )
        return Secret(key, value)

    def one_of(self, key: str, choices: tuple[str, ...]) -> str:
        value = self.string(key)
        if value and value not in choices:
            self.problem(key, f"must be one of {', '.join(choices)}; got {value!r}")
        return value

    def check(self, key: str, problem: str | None) -> None:
        if problem:
            self.problem(key, problem)

    def foreign_keys(self, keys: Collection[str]) -> None:
        """Keys in a namespace neither ours nor a provider's: named as they are, with ours suggested."""
        for key in keys:
            namespace, _, rest = key.partition(":")
            self.problems.append(
                f"{key}: {namespace!r} is not a namespace this stack reads (typo of {NAMESPACE}:{rest}?); "
                "the program would never see it: rename or remove it"
            )

    def unknown_keys(self) -> None:
        for key in sorted(set(self.values) - set(self.kinds)):
            self.problem(key, "is not a key this program reads (typo?); see the README's configuration reference")


def check_bucket(
    r: Reader,
    bucket: tuple[str, str],
    region: tuple[str, str],
    endpoint: tuple[str, str],
    providers: tuple[str, ...] = tuple(hosts.S3_ENDPOINTS),
) -> None:
    """Bucket and region names; the endpoint is exactly the provider's host of that region."""
    if bucket[1]:
        r.check(bucket[0], check.bucket_name(bucket[1]))
    region_ok = bool(region[1]) and not check.region_name(region[1]) and not r.has_problem(region[0])
    if region[1]:
        r.check(region[0], check.region_name(region[1]))
    if endpoint[1]:
        r.check(endpoint[0], hosts.s3_endpoint_host(endpoint[1], region[1] if region_ok else None, providers=providers))
