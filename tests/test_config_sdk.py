"""The config adapter against the installed SDK: fails loudly when an upgrade moves what it reads."""

from __future__ import annotations

import json

import pytest
from pulumi import runtime
from pulumi.runtime import config as runtime_config

from components.config.sdk import namespace_config


@pytest.fixture
def restore_config() -> object:
    saved = dict(runtime_config.CONFIG.get())
    yield None
    runtime.set_all_config(saved, [])


@pytest.mark.usefixtures("restore_config")
def test_reads_every_key_of_the_namespace_with_its_secret_flag() -> None:
    runtime.set_all_config(
        {"honeydue:location": "nbg1", "honeydue:hcloudToken": "t", "other:key": "x"}, ["honeydue:hcloudToken"]
    )
    values, secrets = namespace_config("honeydue")
    assert values == {"location": "nbg1", "hcloudToken": "t"}
    assert secrets == {"hcloudToken"}


@pytest.mark.usefixtures("restore_config")
def test_reads_the_environment_of_older_clis(monkeypatch: pytest.MonkeyPatch) -> None:
    runtime.set_all_config({}, [])
    monkeypatch.setenv("PULUMI_CONFIG", json.dumps({"honeydue:smtpPassword": "p", "honeydue:smtpPort": "587"}))
    monkeypatch.setenv("PULUMI_CONFIG_SECRET_KEYS", json.dumps(["honeydue:smtpPassword"]))
    values, secrets = namespace_config("honeydue")
    assert values == {"smtpPassword": "p", "smtpPort": "587"}
    assert secrets == {"smtpPassword"}


def test_the_sdk_still_has_what_the_adapter_reads() -> None:
    """An SDK upgrade that renames or retypes these breaks the adapter: this names what moved."""
    assert isinstance(runtime_config.CONFIG.get(), dict), "pulumi.runtime.config.CONFIG is no longer a dict store"
    for name in ("get_config_env", "get_config_secret_keys_env", "is_config_secret", "set_all_config"):
        assert callable(getattr(runtime, name, None)), f"pulumi.runtime.{name} is gone"


def test_the_sdk_still_has_what_the_early_lookup_uses() -> None:
    """components.config.sdk.stack_output_now re-enters the loop like the SDK's synchronous invokes do."""
    import inspect

    import pulumi
    from pulumi.runtime import sync_await

    assert callable(getattr(sync_await, "_sync_await", None)), "pulumi.runtime.sync_await._sync_await is gone"
    assert inspect.iscoroutinefunction(pulumi.StackReference.get_output_details)
