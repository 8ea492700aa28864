"""The replace rules derived from upstream source (issue 19 item 7): the table answers to the pins, and the
parser reads both Terraform schema styles and pulumi-kubernetes' table as upstream writes them."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from offline.replace_rules import DERIVED, RULES, UPSTREAM_RULES
from tools import upstream_rules

ROOT = Path(__file__).resolve().parents[1]
MIRROR = Path("/work/.mirror")


def _pins() -> dict[str, str]:
    text = (ROOT / "requirements.txt").read_text(encoding="utf-8")
    return dict(re.findall(r"^([a-z0-9-]+)==([^ \\\n]+)", text, re.MULTILINE | re.ASCII))


def test_the_derived_table_was_read_for_the_pinned_sdks() -> None:
    # A moved pin fails here until `python -m tools.upstream_rules --mirror DIR > offline/upstream_rules.json` ran.
    recorded = json.loads(UPSTREAM_RULES.read_text(encoding="utf-8"))
    pins = _pins()
    assert {u["package"]: u["pin"] for u in recorded["upstreams"]} == {
        u.package: pins[u.package] for u in upstream_rules.UPSTREAMS
    }
    assert recorded["upstreams"] == [upstream_rules.asdict(u) for u in upstream_rules.UPSTREAMS]


def test_every_fact_carries_its_provenance() -> None:
    facts = json.loads(UPSTREAM_RULES.read_text(encoding="utf-8"))["facts"]
    assert len(facts) > 40
    for fact in facts:
        source = fact["source"]
        assert re.fullmatch(r"[0-9a-f]{40}", source["commit"]) and re.fullmatch(r"[0-9a-f]{64}", source["sha256"])
        assert source["repo"].count("/") == 1 and source["path"] and fact["line"] >= 1


def test_the_rules_table_is_the_derived_data() -> None:
    for type_, row in DERIVED.items():
        assert RULES[type_].paths == row.paths and RULES[type_].source == row.source
    assert set(RULES["hcloud:index/server:Server"].paths) == {"image", "location", "sshKeys", "userData"}
    assert "datacenter" not in RULES["hcloud:index/server:Server"].paths  # not ForceNew since v1.67.0
    assert RULES["command:remote:Command"].paths == ("triggers",)


GO_SDK2 = """
func resource() *schema.Resource {
	return &schema.Resource{
		Schema: map[string]*schema.Schema{
			"name": {
				Type:     schema.TypeString,
				Required: true,
			},
			"image": {
				Type:     schema.TypeString,
				ForceNew: true,
			},
			"network": {
				Type: schema.TypeSet,
				Elem: &schema.Resource{
					Schema: map[string]*schema.Schema{
						"ip": {Type: schema.TypeString, ForceNew: true},
					},
				},
			},
		},
	}
}
"""
GO_FRAMEWORK = """
	resp.Schema.Attributes = map[string]schema.Attribute{
		"name": schema.StringAttribute{Required: true},
		"public_key": schema.StringAttribute{
			PlanModifiers: []planmodifier.String{stringplanmodifier.RequiresReplace()},
		},
	}
	Blocks: map[string]schema.Block{
		"subject": schema.ListNestedBlock{
			PlanModifiers: []planmodifier.List{listplanmodifier.RequiresReplace()},
		},
	},
"""


def test_the_parser_reads_both_terraform_schema_styles() -> None:
    assert dict(upstream_rules.schema_replaces(GO_SDK2)) == {"image": 9, "network.ip": 17}
    assert dict(upstream_rules.schema_replaces(GO_FRAMEWORK)) == {"public_key": 4, "subject": 9}
    assert upstream_rules.camel("network_zone") == "networkZone"


@pytest.mark.skipif(not MIRROR.is_dir(), reason="the upstream mirrors are not on this machine (fetch them)")
def test_rederiving_from_the_mirrors_gives_the_committed_table() -> None:
    try:
        again = upstream_rules.derive(MIRROR)
    except Exception as error:  # a mirror without the ref read: say so, the table can't be checked here
        pytest.skip(f"a mirror lacks what the table was read from: {error}")
    assert again == json.loads(UPSTREAM_RULES.read_text(encoding="utf-8"))
