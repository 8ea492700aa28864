"""Property tests of the config grammar (issue 21 item 9): for every key the program reads, a generated value is
either refused with a problem line naming that key (or one it is checked against), or accepted in a form every
consumer reads back as written.

Hypothesis runs with a fixed seed and budget (`derandomize=True`, no example database), so `make test` is
deterministic and its time bounded; raise PROPERTY_EXAMPLES locally to search longer.
"""

from __future__ import annotations

import json
import os
import re
import string
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from components.config.load import key_kinds, load_stack_config
from components.config.reader import ConfigError
from components.yaml_text import dump_quoted
from offline.harness import run_program
from offline.plan import revealed
from offline.records import Plan
from offline.stack_config import provider_environment
from tests.conftest import prod_values
from tests.k3s_yaml import go_yaml_data

EXAMPLES = int(os.environ.get("PROPERTY_EXAMPLES", "25"))
KINDS = key_kinds()
BASE, SECRET_KEYS = prod_values()
ENVIRON = {k: v for k, v in provider_environment().items() if v is not None}
# A refusal of one key may be reported on the key it is checked against (an endpoint against its region, names
# against their domain, the zone against the location, the subnet against the network, a reused secret on the
# later key, an unknown adopted node against adoptIds).
CHECKED_AGAINST: dict[str, set[str]] = {
    "b2Region": {"b2Endpoint"},
    "etcdS3Region": {"etcdS3Endpoint"},
    "location": {"networkZone"},
    "domain": {"apiHostname", "adminHostname", "apiDnsName"},
    "privateNetworkCidr": {"privateSubnetCidr", "clusterCidr", "serviceCidr"},
    "clusterCidr": {"serviceCidr", "privateNetworkCidr"},
    "serviceCidr": {"clusterCidr", "privateNetworkCidr"},
    "serverCount": {"privateSubnetCidr"},
    "agentCount": {"privateSubnetCidr"},
    "sourceMinPrefixV4": {"adminCidrs", "deployerCidrs"},
    "sourceMinPrefixV6": {"adminCidrs", "deployerCidrs"},
    "adminCidrs": {"broadSourceCidrs"},
    "deployerCidrs": {"broadSourceCidrs", "adminCidrs"},
    "etcdS3Bucket": {
        "etcdS3Endpoint",
        "etcdS3Region",
        "etcdS3AccessKey",
        "etcdS3SecretKey",
        "redisBackupAccessKey",
        "redisBackupSecretKey",
        "b2Bucket",
    },
    "imageRegistry": {"apiImage", "adminImage", "workerImage"},
    "etcdS3Folder": {"redisBackupFolder"},
    "etcdSnapshotSchedule": {"etcdSnapshotRetention"},
    "rebootStartTime": {"rebootEndTime"},
    "serverType": {"agentServerType"},
}

# Characters a hostile or careless value is made of: ASCII, the digits Python's \d would take (Arabic-Indic,
# full-width, Devanagari, superscript), invisible and look-alike characters, YAML and shell syntax.
HOSTILE_CHARS = (
    string.ascii_letters
    + string.digits
    + string.punctuation
    + " \t\n"
    + "\u0660\u0663\u0666\uff10\uff13\u0966\u00b2\u00a0\u200b\ufeff\u2028\u0430\u0435\u0131\u00e9"
)
YAML_WORDS = ("y", "n", "yes", "No", "on", "OFF", "~", "null", "08", "1e3", "0o17", "0x1F", "12:30:00", "2026-01-01")


def _mutations(base: str) -> st.SearchStrategy[str]:
    """Near-misses of a valid value: a character replaced, inserted or removed, a suffix, a case change."""
    if not base:
        return st.text(HOSTILE_CHARS, max_size=12)

    @st.composite
    def mutate(draw: st.DrawFn) -> str:
        at = draw(st.integers(0, len(base)))
        piece = draw(st.text(HOSTILE_CHARS, min_size=1, max_size=4))
        how = draw(st.sampled_from(("replace", "insert", "delete", "suffix", "prefix", "upper")))
        if how == "replace":
            return base[:at] + piece + base[at + 1 :]
        if how == "insert":
            return base[:at] + piece + base[at:]
        if how == "delete":
            return base[:at] + base[at + len(piece) :]
        if how == "suffix":
            return base + draw(st.sampled_from((".attacker.example", "\n", " ", ".", "/", "0", "\u0660")))
        if how == "prefix":
            return draw(st.sampled_from(("0", " ", "+", "-", "\ufeff", "https://"))) + base
        return base.upper()

    return mutate()


def _values_for(key: str) -> st.SearchStrategy[str]:
    kind, _ = KINDS[key]
    base = BASE.get(key, "")
    anything = st.text(HOSTILE_CHARS, max_size=40)
    words = st.sampled_from(YAML_WORDS)
    if kind == "integer":
        numbers = st.integers(-(10**12), 10**12).map(str)
        return st.one_of(numbers, _mutations(base), anything, words)
    if kind == "boolean":
        return st.one_of(st.sampled_from(("True", "yes", "1", "on", "", "true ", "FALSE")), anything)
    if kind == "array":
        items = json.loads(base) if base.startswith("[") else []
        item = st.one_of(*(_mutations(i) for i in items), anything, words) if items else st.one_of(anything, words)
        lists = st.lists(item, max_size=3).map(lambda xs: json.dumps(xs + items[len(xs) :]))
        return st.one_of(lists, st.sampled_from(("{}", '"x"', "[1]", "[null]", "not json")))
    return st.one_of(_mutations(base), anything, words)


def _check(key: str, value: str) -> dict[str, Any] | None:
    """Refused: the problems name `key` or a key it is checked against. Accepted: the values that were read."""
    values = {**BASE, key: value}
    try:
        load_stack_config(values, secret_keys=SECRET_KEYS, stack="prod", environ=ENVIRON)
    except ConfigError as error:
        named = {p.split(":")[1].split("[")[0] for p in error.problems} | set(error.missing_secrets)
        allowed = {key} | CHECKED_AGAINST.get(key, set())
        assert named & allowed, f"{key}={value!r} refused without naming it: {error.problems}"
        assert named <= allowed | {k for k in named if k in CHECKED_AGAINST.get(key, set())}, (key, value, named)
        return None
    return values


def _reads_back(key: str, value: str) -> None:
    """An accepted value survives every writer: quoted YAML read by go-yaml v2 and by PyYAML; JSON arrays item
    by item. Non-secret values are printable ASCII (every grammar is ASCII-only)."""
    kind, secret = KINDS[key]
    texts = json.loads(value) if kind == "array" else [value]
    for text in texts:
        document = dump_quoted({"value": text}, sort_keys=False)
        assert go_yaml_data(document) == [{"value": text}] == [yaml.safe_load(document)], (key, text)
        if not secret:
            assert text.isascii() and text.isprintable(), f"{key} accepted a non-ASCII or unprintable value {text!r}"


@pytest.mark.parametrize("key", sorted(KINDS))
def test_every_value_of_every_key_is_refused_by_name_or_reads_back(key: str) -> None:
    @settings(
        max_examples=EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    @given(value=_values_for(key))
    def prop(value: str) -> None:
        if _check(key, value) is not None:
            _reads_back(key, value)

    prop()


# The whole program, for string keys whose value reaches a rendered document: fewer examples, each one a full
# offline evaluation (about a second).
RENDERED_KEYS = ("appNamespace", "etcdS3Folder", "redisBackupFolder", "apiDnsName", "registryUsername", "k3sVersion")


@settings(max_examples=max(EXAMPLES // 4, 6), derandomize=True, database=None, deadline=None)
@given(key_value=st.sampled_from(RENDERED_KEYS).flatmap(lambda k: st.tuples(st.just(k), _values_for(k))))
def test_a_value_the_program_accepts_reads_back_from_every_document_it_renders(key_value: tuple[str, str]) -> None:
    key, value = key_value
    plan = Plan(stack="prod", preview=True)
    try:
        run_program("prod", {key: value}, preview=True, into=plan)
    except ConfigError as error:
        assert f"honeydue:{key}" in str(error)
        assert [r for r in plan.registrations if not r.type.startswith(("pulumi:providers:", "pulumi:pulumi:"))] == []
        return
    documents = _rendered_yaml(plan)
    assert any(path.endswith("/etc/rancher/k3s/config.yaml") for path in documents), sorted(documents)
    for path, text in documents.items():
        assert go_yaml_data(text) == list(yaml.safe_load_all(text)), (key, value, path)


# A file a node step writes: `tmp="$(mktemp "$root"<dir>/.<name>.XXXXXX)"`, then a quoted heredoc into "$tmp"
# (components/remote.py); the delimiter occurs in no content.
_HEREDOC = re.compile(
    r'tmp="\$\(mktemp "\$root"(?P<dir>\S+)/\.(?P<name>[^"]+)\.XXXXXX\)"\ncat >"\$tmp" <<\'(?P<end>\w+)\'\n'
    r"(?P<body>.*?)\n(?P=end)\n",
    re.ASCII | re.DOTALL,
)


def _rendered_yaml(plan: Plan) -> dict[str, str]:
    """Every YAML document the program renders for a Go reader: the files node steps write, and Helm values."""
    found: dict[str, str] = {}
    for reg in plan.registrations:
        if reg.type == "command:remote:Command":
            for step in ("create", "update"):
                script = revealed(reg.inputs.get(step))
                for match in _HEREDOC.finditer(script if isinstance(script, str) else ""):
                    path = f"{match['dir']}/{match['name']}"
                    if path.endswith(".yaml"):
                        found[f"{reg.name}:{path}"] = match["body"] + "\n"
        spec = revealed(reg.inputs.get("spec"))
        if reg.type.endswith("HelmChartConfig") and isinstance(spec, dict):
            found[f"{reg.name}:valuesContent"] = spec["valuesContent"]
    return found
