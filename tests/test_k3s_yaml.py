"""K3s reads back every string of its config files as the string the program rendered (issue 21 item 3).

K3s parses them with go-yaml v2 and passes each value to its flag through fmt.Sprint; tests/k3s_yaml.py models
that from the source, row by row as the pinned go-yaml resolves plain scalars.
"""

from __future__ import annotations

import dataclasses

import pytest
import yaml

from components.k3s.node import k3s_config_yaml, public_config, secret_config, secrets_yaml
from tests.k3s_yaml import flag_text, intended_flags, k3s_flags
from tests.test_k3s_node import S3, server

# Spellings a string field (a folder, a bucket, a key) may take that go-yaml v2 reads as something else.
RETYPED = ("y", "N", "on", "Off", "08", "010", "1e3", "0o17", "0x1f", "100e10", "1_000", ".inf", "~", "null", "1.")


@pytest.mark.parametrize("spelling", RETYPED)
def test_the_model_has_teeth_pyyaml_leaves_these_plain_and_k3s_retypes_them(spelling: str) -> None:
    rendered = yaml.safe_dump({"etcd-s3-folder": spelling})
    plain = "'" not in rendered and '"' not in rendered
    assert not plain or k3s_flags(rendered)["etcd-s3-folder"] == [flag_text(spelling)] != [spelling]


@pytest.mark.parametrize("spelling", RETYPED)
def test_every_string_of_the_config_and_the_secrets_drop_in_reaches_k3s_as_written(spelling: str) -> None:
    s3 = dataclasses.replace(S3, folder=spelling, region=spelling, bucket=spelling, endpoint=spelling)
    for settings in (server(0, etcd_s3=s3, node_name=spelling), server(1, etcd_s3=s3)):
        assert k3s_flags(k3s_config_yaml(settings)) == intended_flags(public_config(settings))
        token = spelling
        assert k3s_flags(secrets_yaml(settings, token)) == intended_flags(secret_config(settings, token))
