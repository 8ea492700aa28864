"""Config of an adoption: the running token and the pinned host keys, every problem at once, before anything."""

from __future__ import annotations

import pytest

from components.adoption import check_adoption
from components.config.reader import ConfigError
from offline.adoption_world import RUNNING_TOKEN, host_key
from offline.harness import run_program
from offline.records import Plan
from tests.conftest import load_prod

SERVER_IDS = ["honeydue-1=101", "honeydue-2=102", "honeydue-3=103"]
HOST_KEYS = [f"{s}={host_key(s)}" for s in ("honeydue-1", "honeydue-2", "honeydue-3")]


def test_a_token_piped_from_a_file_loses_its_final_newline_only() -> None:
    config = load_prod({"k3sToken": RUNNING_TOKEN + "\n"})
    assert config.k3s.token is not None and config.k3s.token.value == RUNNING_TOKEN
    assert RUNNING_TOKEN not in repr(config)


def test_no_token_means_the_stack_generates_one() -> None:
    assert load_prod().k3s.token is None


@pytest.mark.parametrize(
    ("value", "phrase"),
    [("two words", "without spaces"), ("two words\nand a line", "control character")],
)
def test_a_token_with_spaces_or_lines_is_refused_without_showing_it(value: str, phrase: str) -> None:
    with pytest.raises(ConfigError, match=f"honeydue:k3sToken: .*{phrase}") as caught:
        load_prod({"k3sToken": value})
    assert "two words" not in str(caught.value)


def test_host_keys_keep_type_and_body_only() -> None:
    key = host_key("honeydue-1")
    config = load_prod({"adoptedHostKeys": [f"honeydue-1={key} root@honeydue-1"]})
    assert dict(config.nodes.adopted_host_keys) == {"honeydue-1": key}


def test_bad_host_key_entries_are_each_named() -> None:
    entries = ["honeydue-1", "honeydue-2=ssh-ed25519 not-base64!", HOST_KEYS[2], HOST_KEYS[2]]
    with pytest.raises(ConfigError) as caught:
        load_prod({"adoptedHostKeys": entries})
    message = str(caught.value)
    assert "honeydue:adoptedHostKeys[0]: 'honeydue-1' is not of the form <server name>=<type> <base64>" in message
    assert (
        "honeydue:adoptedHostKeys[1]: honeydue-2: the key of type ssh-ed25519 has a body that is not base64" in message
    )
    assert "honeydue:adoptedHostKeys[3]: honeydue-3 is listed twice" in message


def test_adopting_servers_needs_their_host_keys_the_token_and_every_server() -> None:
    config = load_prod({"adoptIds": SERVER_IDS[:2], "adoptedHostKeys": [HOST_KEYS[0], "honeydue-7=" + host_key("x")]})
    with pytest.raises(ConfigError) as caught:
        check_adoption(config)
    problems = caught.value.problems
    assert (
        "honeydue:adoptedHostKeys: 'honeydue-7' is not a node of this stack (honeydue-1, honeydue-2, honeydue-3)"
        in problems
    )
    assert any(
        p.startswith("honeydue:adoptedHostKeys: honeydue-2 is adopted (adoptIds) but has no pinned") for p in problems
    )
    assert "honeydue:adoptIds: adopt every server or none; missing honeydue-3" in problems
    assert any(p.startswith("honeydue:k3sToken: is required when servers are adopted") for p in problems)
    assert len(problems) == 4


def test_a_complete_server_adoption_passes() -> None:
    check_adoption(load_prod({"adoptIds": SERVER_IDS, "adoptedHostKeys": HOST_KEYS, "k3sToken": RUNNING_TOKEN}))


def test_adopting_only_cloudflare_needs_no_token() -> None:
    check_adoption(load_prod({"adoptIds": ["honeydue-edge-tls-ssl=0123456789abcdef0123456789abcdef/ssl"]}))


def test_the_program_fails_before_registering_anything() -> None:
    plan = Plan(stack="prod", preview=True)
    with pytest.raises(ConfigError, match="honeydue:k3sToken: is required"):
        run_program("prod", {"adoptIds": SERVER_IDS, "adoptedHostKeys": HOST_KEYS}, preview=True, into=plan)
    assert plan.registrations == []
