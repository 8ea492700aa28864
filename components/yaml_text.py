"""YAML for people: multi-line strings (scripts, keys, Helm values) as `|` blocks, never escaped runs."""

from __future__ import annotations

from typing import Any

import yaml


class _BlockDumper(yaml.SafeDumper):
    pass


def _str_representer(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_BlockDumper.add_representer(str, _str_representer)


def dump_readable(data: Any, *, sort_keys: bool) -> str:
    return yaml.dump(data, Dumper=_BlockDumper, sort_keys=sort_keys, width=1000, default_flow_style=False)
