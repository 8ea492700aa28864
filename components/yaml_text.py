"""YAML for people (multi-line strings as `|` blocks), and YAML no consumer re-types (every string quoted)."""

from __future__ import annotations

import functools
import json
import re
from typing import Any, Protocol

import yaml


class _BlockDumper(yaml.SafeDumper):
    pass


def _str_representer(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_BlockDumper.add_representer(str, _str_representer)


class _Dump(Protocol):
    def __call__(self, data: Any, *, sort_keys: bool) -> str: ...


def _memoized(dump: _Dump) -> _Dump:
    """`dump`, remembered per document: PyYAML's pure-Python emitter took a tenth of an offline evaluation's CPU,
    and the plan, the scenarios and the tests render the same documents hundreds of times in one process. The key
    is the document's JSON (insertion order kept: it is the order without sort_keys); a document JSON can't spell
    exactly is dumped each time."""

    @functools.lru_cache(maxsize=256)
    def cached(document: str, sort_keys: bool) -> str:
        return dump(json.loads(document), sort_keys=sort_keys)

    @functools.wraps(dump)
    def wrapper(data: Any, *, sort_keys: bool) -> str:
        try:
            document = json.dumps(data, allow_nan=False)
        except (TypeError, ValueError):
            return dump(data, sort_keys=sort_keys)
        if json.loads(document) != data:  # e.g. a tuple, or a non-string key: not what PyYAML would be given
            return dump(data, sort_keys=sort_keys)
        return cached(document, sort_keys)

    return wrapper


@_memoized
def dump_readable(data: Any, *, sort_keys: bool) -> str:
    return yaml.dump(data, Dumper=_BlockDumper, sort_keys=sort_keys, width=1000, default_flow_style=False)


# A key that every YAML 1.1 parser reads as the same string: a word of letters, digits and '-' starting with a
# letter, not one of the words go-yaml v2 resolves to a boolean or null in any capitalisation. Such keys (K3s's
# flag names, Kubernetes' field names) stay plain, so the file reads as usual.
_PLAIN_KEY = re.compile(r"[A-Za-z][A-Za-z0-9-]*", re.ASCII)
_RESOLVED_WORDS = frozenset({"y", "n", "yes", "no", "on", "off", "true", "false", "null"})


class _QuotedDumper(yaml.SafeDumper):
    def represent_mapping(self, tag: str, mapping: Any, flow_style: bool | None = None) -> yaml.MappingNode:
        node = super().represent_mapping(tag, mapping, flow_style)
        for key, _ in node.value:
            plain = isinstance(key, yaml.ScalarNode) and _PLAIN_KEY.fullmatch(key.value)
            if plain and key.value.lower() not in _RESOLVED_WORDS:
                key.style = None
        return node


def _quoted_representer(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    # A block scalar is a string in every YAML version; a one-line string is single-quoted.
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|" if "\n" in value else "'")


_QuotedDumper.add_representer(str, _quoted_representer)


@_memoized
def dump_quoted(data: Any, *, sort_keys: bool) -> str:
    """YAML with every string quoted, for consumers with other typing rules than PyYAML's.

    PyYAML leaves a string unquoted when its own YAML 1.1 resolver reads it back as a string, but go-yaml v2
    (K3s's config files) resolves more spellings: `y`, `08`, `1e3`, `0o17` become a boolean or a number and
    K3s passes "true", "8", "1000", "15" to the flag (tests/k3s_yaml.py cites the source). Quoted, a string
    is a string to every YAML parser. Booleans and numbers stay plain.
    """
    return yaml.dump(data, Dumper=_QuotedDumper, sort_keys=sort_keys, width=1000, default_flow_style=False)
