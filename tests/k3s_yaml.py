"""How K3s reads its config files: what each value becomes on the flag it sets (a test model).

K3s v1.34.6+k3s1 (k3s-io/k3s 234e6132) parses /etc/rancher/k3s/config.yaml and config.yaml.d/*.yaml with
gopkg.in/yaml.v2 v2.4.0 (go.mod:156) into yaml.MapSlice (pkg/configfilearg/parser.go:274-277, readConfigFile)
and turns every value into `--key=<fmt.Sprint(value)>` (rancher/wrangler v3.3.4 pkg/data/convert/convert.go:34-47,
ToString); a list becomes one flag per item. So YAML 1.1 implicit typing decides a plain scalar's text:
`y` becomes "true", `08` "8", `1e3` "1000", `0o17` "15" (go-yaml v2.4.0 resolve.go:37-48, 84, 120-196).
A quoted scalar is the string it spells. PyYAML is YAML 1.1 too, but resolves fewer spellings (no y/n, no
08 or 1e3 as numbers), so its safe_dump leaves exactly these unquoted.
"""

from __future__ import annotations

import decimal
import math
import re
from typing import Any

import yaml

_TRUE = {"y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON"}
_FALSE = {"n", "N", "no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF"}
_NULL = {"", "~", "null", "Null", "NULL"}
_SPECIAL = {".nan": math.nan, ".NaN": math.nan, ".NAN": math.nan, ".inf": math.inf, ".Inf": math.inf,
            ".INF": math.inf, "+.inf": math.inf, "+.Inf": math.inf, "+.INF": math.inf,
            "-.inf": -math.inf, "-.Inf": -math.inf, "-.INF": -math.inf}  # fmt: skip
_FLOAT = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?", re.ASCII)  # resolve.go:84
_TIMESTAMP = re.compile(r"[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}", re.ASCII)


def _go_int(text: str) -> int | None:
    """strconv.ParseInt(text, 0, 64) or ParseUint: 0x, 0o, 0b prefixes, a leading 0 is octal."""
    sign, body = (-1, text[1:]) if text[:1] == "-" else (1, text[1:] if text[:1] == "+" else text)
    base, digits = 10, body
    if body[:2] in ("0x", "0X"):
        base, digits = 16, body[2:]
    elif body[:2] in ("0o", "0O"):
        base, digits = 8, body[2:]
    elif body[:2] in ("0b", "0B"):
        base, digits = 2, body[2:]
    elif len(body) > 1 and body[0] == "0":
        base, digits = 8, body[1:]
    alphabet = "0123456789abcdef"[:base]
    if not digits or any(c.lower() not in alphabet for c in digits):
        return None
    value = sign * int(digits, base)
    return value if -(2**63) <= value < 2**64 else None


def _go_float_text(value: float) -> str:
    """fmt.Sprint of a float64: strconv 'g' with the shortest digits, %e from exponent 6 up or below -4."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == 0:
        return "0"
    number = decimal.Decimal(repr(value)).normalize()
    sign, digits, exponent = number.as_tuple()
    assert isinstance(exponent, int)
    first = len(digits) + exponent - 1
    if first < -4 or first >= 6:
        mantissa = str(digits[0]) + ("." + "".join(map(str, digits[1:])) if len(digits) > 1 else "")
        return f"{'-' if sign else ''}{mantissa}e{'+' if first >= 0 else '-'}{abs(first):02d}"
    return format(number, "f")


def flag_text(plain: str) -> str:
    """What K3s passes to a flag for an unquoted scalar spelled `plain`."""
    if plain in _TRUE:
        return "true"
    if plain in _FALSE:
        return "false"
    if plain in _NULL:
        return ""
    if plain in _SPECIAL:
        return _go_float_text(_SPECIAL[plain])
    if not plain or not (plain[0].isascii() and (plain[0].isdigit() or plain[0] in "+-.")):
        return plain
    if _TIMESTAMP.match(plain):
        return plain  # decode.go:474-480 puts a timestamp's text back
    value = go_value(plain)
    if isinstance(value, float):
        return _go_float_text(value)
    return str(value)


def _values(node: yaml.Node) -> list[str]:
    if isinstance(node, yaml.SequenceNode):
        return [v for item in node.value for v in _values(item)]
    if isinstance(node, yaml.ScalarNode):
        if node.style in ("'", '"', "|", ">"):
            return [str(node.value)]
        return [flag_text(str(node.value))]
    raise ValueError(f"K3s turns a {type(node).__name__} into garbage text")


def k3s_flags(document: str) -> dict[str, list[str]]:
    """Every key of a K3s config document and the flag values K3s derives from it."""
    root = yaml.compose(document)
    if not isinstance(root, yaml.MappingNode):
        raise ValueError("a K3s config file is a mapping")
    out: dict[str, list[str]] = {}
    for key, value in root.value:
        out[str(key.value)] = _values(value)
    return out


def intended_flags(config: dict[str, Any]) -> dict[str, list[str]]:
    """The flag values a config dict means: its strings as they are, booleans as true/false."""

    def text(value: Any) -> str:
        return ("true" if value else "false") if isinstance(value, bool) else str(value)

    return {k: [text(x) for x in v] if isinstance(v, list | tuple) else [text(v)] for k, v in config.items()}


def go_value(plain: str) -> Any:
    """The value go-yaml v2.4.0 decodes an unquoted scalar spelled `plain` into, in an interface{} (resolve.go:84-196;
    a timestamp stays its text, decode.go:474-480). sigs.k8s.io/yaml v1.4 (Helm's values, client-go's kubeconfig,
    kubectl's manifests) converts YAML with its vendored copy of the same resolver (goyaml.v2)."""
    if plain in _TRUE or plain in _FALSE:
        return plain in _TRUE
    if plain in _NULL:
        return None
    if plain in _SPECIAL:
        return _SPECIAL[plain]
    if not plain or not (plain[0].isascii() and (plain[0].isdigit() or plain[0] in "+-.")) or _TIMESTAMP.match(plain):
        return plain
    if plain[0] == ".":
        # resolve.go:132-137: a leading '.' is parsed as it is (strconv.ParseFloat, no '_' removed).
        return float(plain) if _FLOAT.fullmatch(plain) and not math.isinf(float(plain)) else plain
    cleaned = plain.replace("_", "")
    number = _go_int(cleaned)
    # ParseInt takes a '+' up to int64; ParseUint, which takes the rest up to uint64, refuses any sign.
    if number is not None and not (plain[0] == "+" and number >= 2**63):
        return number
    if _FLOAT.fullmatch(cleaned) and not math.isinf(float(cleaned)):
        return float(cleaned)
    return plain


def _go_data(node: yaml.Node) -> Any:
    if isinstance(node, yaml.MappingNode):
        return {_go_data(k): _go_data(v) for k, v in node.value}
    if isinstance(node, yaml.SequenceNode):
        return [_go_data(item) for item in node.value]
    if node.style in ("'", '"', "|", ">"):
        return str(node.value)
    return go_value(str(node.value))


def go_yaml_data(text: str) -> list[Any]:
    """Every document of `text` as a Go consumer using go-yaml v2 reads it (plain scalars by its resolver)."""
    return [_go_data(root) for root in yaml.compose_all(text) if root is not None]
