"""Pulumi.yaml's config block, config.py and the README reference never drift apart."""

from __future__ import annotations

from pathlib import Path

from components.config.load import key_kinds
from offline.stack_config import PROJECT_DIR, declared_config
from tools.config_reference import BEGIN, END, reference_table

DECLARED = declared_config()


def test_every_key_read_is_declared_and_every_declared_key_is_read() -> None:
    assert set(key_kinds()) == set(DECLARED)


def test_declared_types_and_secret_flags_match_how_the_program_reads_them() -> None:
    for key, (kind, secret) in key_kinds().items():
        spec = DECLARED[key]
        assert spec["type"] == kind, key
        assert bool(spec.get("secret")) == secret, key


def test_every_key_has_a_description_and_secrets_have_no_default() -> None:
    for key, spec in DECLARED.items():
        assert spec.get("description", "").strip(), key
        if spec.get("secret"):
            assert "default" not in spec, f"{key}: a secret must not have a default in Pulumi.yaml"


def test_prod_stack_file_sets_no_secret_and_only_declared_keys() -> None:
    import yaml

    prod = yaml.safe_load((PROJECT_DIR / "Pulumi.prod.yaml").read_text())["config"]
    for full_key in prod:
        namespace, key = full_key.split(":", 1)
        assert namespace == "honeydue" and key in DECLARED, full_key
        assert not DECLARED[key].get("secret"), f"{full_key} is a secret: set it with --secret, not in the file"


def test_readme_configuration_reference_is_current() -> None:
    readme = (PROJECT_DIR / "README.md").read_text()
    current = readme[readme.index(BEGIN) + len(BEGIN) : readme.index(END)].strip()
    assert current == reference_table().strip(), "README config reference is stale: run `make config-reference`"


def test_runtime_options_are_what_the_cli_expects() -> None:
    import yaml

    project = yaml.safe_load(Path(PROJECT_DIR / "Pulumi.yaml").read_text())
    assert project["name"] == "honeydue"
    assert project["runtime"] == {"name": "python", "options": {"toolchain": "pip", "virtualenv": "venv"}}
