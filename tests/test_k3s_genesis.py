"""Pure tests of the genesis decision (components/k3s/genesis.py) and of a server's settings (no engine)."""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace
from typing import Any, cast

import pytest
import yaml

from components.k3s.genesis import genesis_of, join_target, server_role
from components.k3s.node import k3s_config_yaml
from components.k3s.servers import K3sServer
from components.k3s.servers import server_settings as _settings
from tests.k3s_settings import CLUSTER

PRIVATE = ["10.0.1.2", "10.0.1.3", "10.0.1.4"]
IDS = ["101", "102", "103"]


def test_first_up_the_first_server_starts_the_cluster() -> None:
    assert [server_role(i, 3, IDS[i], None) for i in range(3)] == ["init", "join", "join"]
    assert genesis_of(IDS, None) == "101"


def test_the_recorded_genesis_keeps_init_wherever_it_is_listed() -> None:
    assert [server_role(i, 3, IDS[i], "102") for i in range(3)] == ["join", "init", "join"]
    assert genesis_of(IDS, "102") == "102"


def test_a_replaced_genesis_server_joins_and_nobody_inits_again() -> None:
    replaced = ["201", *IDS[1:]]
    assert [server_role(i, 3, replaced[i], "101") for i in range(3)] == ["join", "join", "join"]
    # The record stays: a later new server under another name never inits either.
    assert genesis_of(replaced, "101") == "101"


def test_a_single_server_always_inits() -> None:
    assert server_role(0, 1, "301", "101") == "init"
    assert genesis_of(["301"], "101") == "301"


def test_join_targets_are_fixed_private_addresses_of_another_server() -> None:
    assert [join_target(i, PRIVATE) for i in range(3)] == ["10.0.1.3", "10.0.1.2", "10.0.1.2"]
    with pytest.raises(ValueError, match="single server"):
        join_target(0, PRIVATE[:1])


def _servers() -> list[K3sServer]:
    nodes = [SimpleNamespace(name=f"honeydue-{i + 1}", private_ip=ip) for i, ip in enumerate(PRIVATE)]
    return [cast(K3sServer, SimpleNamespace(node=node)) for node in nodes]


def _config(index: int, own: list[Any], genesis: str | None) -> dict[str, Any]:
    cfg = dataclasses.replace(CLUSTER, api_dns_name="k8s.example.test")
    loaded = yaml.safe_load(k3s_config_yaml(_settings(cfg, _servers(), index, own, genesis)))
    assert isinstance(loaded, dict)
    return loaded


def test_a_server_config_is_its_own_addresses_and_the_api_name() -> None:
    second = _config(1, ["203.0.113.11", "2001:db8:2::1", "102"], "101")
    assert second["tls-san"] == ["203.0.113.11", "2001:db8:2::1", "10.0.1.3", "k8s.example.test"]
    assert second["server"] == "https://10.0.1.2:6443" and "cluster-init" not in second
    # The settings take nothing else of another server than its fixed private address: replacing server 3
    # (new id, new public addresses) cannot change server 2's config.yaml.
    text = yaml.safe_dump(second)
    assert "10.0.1.4" not in text


def test_the_genesis_server_config_keeps_cluster_init() -> None:
    first = _config(0, ["203.0.113.10", "2001:db8:1::1", "101"], "101")
    assert first["cluster-init"] is True and "server" not in first
    replaced = _config(0, ["203.0.113.20", "2001:db8:9::1", "201"], "101")
    assert "cluster-init" not in replaced and replaced["server"] == "https://10.0.1.3:6443"
