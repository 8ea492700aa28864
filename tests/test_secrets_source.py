"""One source of secrets: the ESC environments under esc/, imported by Pulumi.prod.yaml.

Checks the committed structure (never values: every secret is a placeholder that operators replace
with `esc env set … --secret`), that each environment CI opens provides exactly the stack's secret keys,
that the read-only environment cannot reach the write tokens, that the offline harness still reads
the stack file, and the two tools the workflows run before logging in.
"""

from __future__ import annotations

import ipaddress
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from offline.stack_config import PROJECT_DIR, UNSET_SECRETS, declared_config, secret_placeholder, stack_config
from tests.conftest import load_prod
from tools import deployer_check, stack_environment

ESC_DIR = PROJECT_DIR / "esc"
PLACEHOLDER = "REPLACE-ME-with-esc-env-set"
ORG_PROJECT = "honeydue/"


def esc_definition(name: str) -> dict[str, Any]:
    """The committed definition of ESC environment `honeydue/<env>` (esc/<env>.yaml)."""
    assert name.startswith(ORG_PROJECT), name
    return dict(yaml.safe_load((ESC_DIR / f"{name.removeprefix(ORG_PROJECT)}.yaml").read_text()))


def imports_of(name: str) -> list[str]:
    """Every environment `name` imports, transitively, in merge order."""
    found: list[str] = []
    for imported in esc_definition(name).get("imports") or []:
        found += [*imports_of(imported), imported]
    return found


def merge(base: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """JSON merge patch, as ESC merges imports (https://www.pulumi.com/docs/esc/reference/)."""
    merged = dict(base)
    for key, value in patch.items():
        is_object = isinstance(value, dict) and isinstance(merged.get(key), dict) and "fn::secret" not in value
        merged[key] = merge(merged[key], value) if is_object else value
    return merged


def composed_values(name: str) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for env in [*imports_of(name), name]:
        values = merge(values, esc_definition(env)["values"])
    return values


def resolve(values: dict[str, Any], reference: str) -> Any:
    match = re.fullmatch(r"\$\{([\w.]+)\}", reference)
    assert match, f"{reference!r} is not a plain interpolation"
    node: Any = values
    for part in match.group(1).split("."):
        node = node[part]
    return node


def secret_keys() -> set[str]:
    return {f"honeydue:{k}" for k, spec in declared_config().items() if spec.get("secret")}


def environments() -> dict[str, dict[str, Any]]:
    return dict(yaml.safe_load((PROJECT_DIR / ".github" / "environments.yml").read_text()))


def test_the_stack_imports_the_write_environment_and_sets_no_secret_itself() -> None:
    stack = yaml.safe_load((PROJECT_DIR / "Pulumi.prod.yaml").read_text())
    assert stack["environment"] == [stack_environment.WRITE_ENVIRONMENT]
    assert not secret_keys() & set(stack["config"])


def test_the_offline_harness_ignores_the_environment_and_fills_secrets_with_placeholders() -> None:
    config, secrets = stack_config("prod")
    # Optional secrets the harness leaves unset (k3sToken: the plan models a cluster the stack built itself).
    assert set(secrets) == secret_keys() - {f"honeydue:{k}" for k in UNSET_SECRETS}
    assert all(config[key] == secret_placeholder(key.split(":", 1)[1]) for key in secrets)
    assert (
        config["honeydue:k3sVersion"]
        == yaml.safe_load((PROJECT_DIR / "Pulumi.prod.yaml").read_text())["config"]["honeydue:k3sVersion"]
    )


# The read-only environment's stand-ins for the apps' secrets (issue 22 item 3): committed, because they are
# no credential, and recognisable as what they are.
PREVIEW_PLACEHOLDER = re.compile(r".*preview-?placeholder.*", re.ASCII | re.IGNORECASE)


@pytest.mark.parametrize("name", sorted({e["esc_environment"] for e in environments().values()}))
def test_each_environment_ci_opens_provides_exactly_the_secret_keys_as_placeholders(name: str) -> None:
    values = composed_values(name)
    provided = dict(values["pulumiConfig"])
    readonly = name == stack_environment.READ_ONLY_ENVIRONMENT
    if readonly:
        assert provided.pop("honeydue:previewWithoutSecrets") is True
    # Only secrets: every other value has its one home in Pulumi.prod.yaml.
    assert set(provided) == secret_keys()
    for key, reference in provided.items():
        leaf = resolve(values, reference)
        assert set(leaf) == {"fn::secret"}, f"{name} {key}: not a secret"
        if readonly:
            assert PREVIEW_PLACEHOLDER.fullmatch(leaf["fn::secret"]), f"{name} {key}: not a preview placeholder"
        else:
            assert leaf["fn::secret"] == PLACEHOLDER, f"{name} {key}: a committed value, not a placeholder"


def test_the_read_only_environment_holds_no_secret_of_the_apps_and_its_placeholders_pass_the_program() -> None:
    # Issue 22 item 3: every key of it. Only the two provider tokens are set with `esc env set` (read-only
    # ones); everything else is a committed placeholder, and the program takes them, in preview mode.
    readonly = stack_environment.READ_ONLY_ENVIRONMENT
    definition = esc_definition(readonly)
    assert not definition.get("imports"), "no import: not the write tokens, not the apps' secrets"
    values = definition["values"]
    set_by_operators = {path for path, leaf in _secret_leaves(values) if leaf == PLACEHOLDER}
    assert set_by_operators == {"hetzner.token", "cloudflare.apiToken", "statusB2.keyId", "statusB2.applicationKey"}
    keys = [key for key in values["pulumiConfig"] if key != "honeydue:previewWithoutSecrets"]
    placeholders = {
        key.removeprefix("honeydue:"): resolve(values, values["pulumiConfig"][key])["fn::secret"] for key in keys
    }
    config = load_prod({**placeholders, "previewWithoutSecrets": True})
    assert config.preview_without_secrets and config.services.database_url.value == placeholders["databaseUrl"]


def _secret_leaves(node: Any, path: str = "") -> list[tuple[str, str]]:
    if isinstance(node, dict) and set(node) == {"fn::secret"}:
        return [(path, node["fn::secret"])]
    if isinstance(node, dict):
        return [leaf for k, v in node.items() for leaf in _secret_leaves(v, f"{path}.{k}" if path else k)]
    return []


def test_no_esc_file_holds_a_value() -> None:
    files = sorted(ESC_DIR.glob("*.yaml"))
    assert sorted(f.stem for f in files) == ["prod", "prod-readonly", "prod-shared"]
    for path in files:
        secrets = re.findall(r"fn::secret:\s*(.*)", path.read_text())
        # The read-only environment's stand-ins are committed on purpose; every real secret is a placeholder.
        real = [s for s in secrets if not PREVIEW_PLACEHOLDER.fullmatch(s)]
        assert real and set(real) == {PLACEHOLDER}, path.name


def test_the_read_only_environment_cannot_reach_the_write_tokens() -> None:
    readonly, write = stack_environment.READ_ONLY_ENVIRONMENT, stack_environment.WRITE_ENVIRONMENT
    assert write not in imports_of(readonly)
    # Its provider tokens are its own definitions, not inherited from a shared import.
    own = esc_definition(readonly)["values"]
    for key in ("HCLOUD_TOKEN", "CLOUDFLARE_API_TOKEN"):
        path = own["environmentVariables"][key].strip("${}").split(".")
        assert path[0] in own and all(path[0] not in esc_definition(i)["values"] for i in imports_of(readonly))
    declared = environments()
    assert {e["esc_environment"] for e in declared.values() if e["writes"]} == {write}
    assert {e["esc_environment"] for e in declared.values() if not e["writes"]} == {readonly}


# --------------------------------------------------------------------------- tools/stack_environment


def test_the_swap_points_a_copy_of_the_stack_file_at_the_read_only_environment(tmp_path: Path) -> None:
    copy = tmp_path / "Pulumi.prod.yaml"
    shutil.copyfile(PROJECT_DIR / "Pulumi.prod.yaml", copy)
    stack_environment.use_environment(copy, stack_environment.READ_ONLY_ENVIRONMENT)
    swapped = yaml.safe_load(copy.read_text())
    original = yaml.safe_load((PROJECT_DIR / "Pulumi.prod.yaml").read_text())
    assert swapped["environment"] == [stack_environment.READ_ONLY_ENVIRONMENT]
    assert swapped["config"] == original["config"]
    with pytest.raises(stack_environment.StackEnvironmentError, match="expected"):
        stack_environment.use_environment(copy, stack_environment.READ_ONLY_ENVIRONMENT)


def test_the_swap_refuses_a_stack_file_that_imports_something_else(tmp_path: Path) -> None:
    stack_file = tmp_path / "Pulumi.prod.yaml"
    stack_file.write_text("environment:\n  - honeydue/prod\n  - honeydue/extra\nconfig: {}\n")
    with pytest.raises(stack_environment.StackEnvironmentError, match="honeydue/extra"):
        stack_environment.use_environment(stack_file, stack_environment.READ_ONLY_ENVIRONMENT)


# ------------------------------------------------------------------------------ tools/deployer_check


NETS = [ipaddress.ip_network("203.0.113.0/28"), ipaddress.ip_network("2001:db8:7::/48")]


def test_an_egress_address_inside_deployer_cidrs_passes() -> None:
    assert deployer_check.problems(["203.0.113.5", "2001:db8:7::1"], NETS, "prod") == []


def test_every_deployer_problem_is_reported_at_once() -> None:
    found = deployer_check.problems(["198.51.100.7", "not-an-ip"], NETS, "prod")
    assert len(found) == 2
    assert "198.51.100.7 is not inside deployerCidrs (203.0.113.0/28, 2001:db8:7::/48)" in found[0]
    assert "'not-an-ip' is not an IP address" in found[1]
    nothing = deployer_check.problems([], [], "prod")
    assert any("no egress address" in p for p in nothing) and any(
        "deployerCidrs of stack prod is empty" in p for p in nothing
    )


def test_the_check_reads_deployer_cidrs_of_the_stack_and_fails_with_the_reason(
    capsys: pytest.CaptureFixture[str],
) -> None:
    config, _ = stack_config("prod")
    cidrs = yaml.safe_load(config["honeydue:deployerCidrs"])
    assert deployer_check.deployer_cidrs("prod") == [ipaddress.ip_network(c, strict=False) for c in cidrs]
    outside = "192.0.2.1"
    assert not any(ipaddress.ip_address(outside) in net for net in deployer_check.deployer_cidrs("prod"))
    assert deployer_check.main(["--egress", outside]) == 1
    assert "::error title=deployer check::" in capsys.readouterr().out


def test_a_secret_left_at_its_esc_placeholder_is_refused_as_unset_naming_each_key() -> None:
    # A forgotten `esc env set` hands the program the committed placeholder: every such key is unset, all at once.
    from components.config.reader import ConfigError
    from tests.conftest import load_prod

    keys = sorted(k.removeprefix("honeydue:") for k in secret_keys())
    with pytest.raises(ConfigError) as caught:
        load_prod(dict.fromkeys(keys, PLACEHOLDER))
    assert set(caught.value.missing_secrets) == set(keys)
    for key in keys:
        assert f"pulumi config set --secret honeydue:{key} <value>" in str(caught.value)
    assert "REPLACE-ME" not in str(caught.value)
    with pytest.raises(ConfigError) as caught:
        load_prod({keys[0]: "replace_me"})  # any value of that shape
    assert caught.value.missing_secrets == keys[:1]
