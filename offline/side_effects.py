"""What an in-place update or an import does beyond changing a field, per resource type the program uses.

Two tables beside offline.replace_rules (which says what replaces):
* UPDATE_EFFECTS: in-place updates that power a server off, reset it, detach it or fail on a running one.
  The scenario report names them per step (offline.scenario_report), and the scenarios assert that no
  routine change has one.
* IMPORT_READS: which inputs the provider's Read writes into the state when a resource is imported. The
  engine follows an import with a normal diff in the same deployment (pulumi/pulumi step_generator.go:
  only an import without differences stays as it is), so an input the Read never writes shows as an
  addition, and is applied as an update, unless it is under ignoreChanges.
* REFRESH_READS: inputs whose value a refresh replaces with the API's own form. A bridged (Terraform) provider
  diffs the program's inputs against the state its Read wrote, so a form the program does not send is a diff
  after every refresh (and a replacement where the field forces one). A zone setting's read can depend on the
  zone's other settings (zone_setting_read).
* update_refusal: in-place updates a provider sends but its API refuses.

Every row cites the provider source it was read from (terraform-provider-hcloud v1.68.0, the release whose
schema the pinned pulumi-hcloud 1.43.3 SDK carries: the SDK's `datacenter` text is v1.67.0's, its load
balancer type fields v1.68.0's; re-read when the pin moves).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from offline.engine_model import path_under

HCLOUD_SERVER = "https://github.com/hetznercloud/terraform-provider-hcloud/blob/v1.68.0/internal/server/resource.go"
HETZNER_API = "https://docs.hetzner.cloud/reference/cloud#server-actions"
SERVER = "hcloud:index/server:Server"


@dataclass(frozen=True)
class Effect:
    """What updating `path` of a `type` resource in place does to the running thing."""

    type: str
    path: str
    effect: str
    source: str
    stops_service: bool
    """Whether the node stops serving (powered off, reset, cut from its network) or the update fails."""


UPDATE_EFFECTS: tuple[Effect, ...] = (
    Effect(SERVER, "publicNets", "hard power-off (pulling the cord), new addresses if asked, then power-on",
           HCLOUD_SERVER + "#L710-L715 (updatePublicNet L756 Poweroff, L830 Poweron)", True),
    Effect(SERVER, "serverType", "hard power-off, then change_type; the provider never powers it on again",
           HCLOUD_SERVER + "#L587-L611", True),
    Effect(SERVER, "placementGroupId",
           "fails on a running server already in a group (setPlacementGroup); adding one needs the server off",
           HCLOUD_SERVER + "#L1369-L1404; " + HETZNER_API, True),
    Effect(SERVER, "networks", "an ip change detaches and re-attaches the private NIC (etcd and flannel cut)",
           HCLOUD_SERVER + "#L1180-L1205 (updateServerInlineNetworkAttachments)", True),
    Effect(SERVER, "iso", "hard reset", HCLOUD_SERVER + "#L1050-L1058", True),
    Effect(SERVER, "rescue", "hard reset", HCLOUD_SERVER + "#L1092-L1103", True),
    Effect(SERVER, "backups", "switching backups off deletes every existing backup of the server",
           HCLOUD_SERVER + "#L990-L1009 (DisableBackup); " + HETZNER_API, False),
    Effect(SERVER, "firewallIds", "Hetzner firewalls attached or detached: reachable ports change at once",
           HCLOUD_SERVER + "#L645-L708", False),
)  # fmt: skip


def update_effects(type_: str, properties: tuple[str, ...]) -> tuple[Effect, ...]:
    """The effects of updating `properties` (changed input paths) of a `type_` resource in place."""
    paths = [p.removesuffix(" (unknown)") for p in properties]
    return tuple(e for e in UPDATE_EFFECTS if e.type == type_ and any(path_under(e.path, p) for p in paths))


@dataclass(frozen=True)
class ImportRead:
    """The inputs a provider's Read leaves out of the state on import (the rest it writes as the live value)."""

    type: str
    never_written: tuple[str, ...]
    source: str


IMPORT_READS: dict[str, ImportRead] = {
    SERVER: ImportRead(
        SERVER,
        # getServerAttributes writes name, server_type, location, image, backups, labels, protection,
        # firewall_ids and placement_group_id; `network` only when the state already has it (not on import),
        # and never public_net, ssh_keys, user_data, keep_disk, shutdown_before_deletion or
        # ignore_remote_firewall_ids (the provider's own import test ignores the last five, resource_test.go
        # L83-L85). The last three default to false and no Update handler acts on them: if the bridge shows
        # them as additions after an import (pulumi-terraform-bridge#2372), the update changes nothing.
        (
            "publicNets",
            "networks",
            "sshKeys",
            "userData",
            "keepDisk",
            "shutdownBeforeDeletion",
            "ignoreRemoteFirewallIds",
        ),
        HCLOUD_SERVER + "#L1235-L1304 (network: L1284-L1295); importer L38-L40",
    ),
}
"""Types without a row: the Read is taken to write every input the program sets (not verified per type)."""


def imported_inputs(type_: str, program: Mapping[str, Any], live: Mapping[str, Any]) -> dict[str, Any]:
    """The inputs the state holds right after importing: the program's inputs the Read writes, at their live
    values (`live`: what the hand-built resource holds where it differs), without those it never writes."""
    row = IMPORT_READS.get(type_)
    never = row.never_written if row else ()
    return {k: live.get(k, v) for k, v in program.items() if k not in never} | {
        k: v for k, v in live.items() if k not in program and k not in never
    }


CLOUDFLARE_ORIGIN_CA = (
    "https://github.com/cloudflare/terraform-provider-cloudflare/blob/a2efdc5786ae9726d56928dbfe91933bd92404ca/"
    "internal/services/origin_ca_certificate/resource.go"
)
REFRESH_READS: dict[str, dict[str, Any]] = {
    # CLOUDFLARE_ORIGIN_CA (v5.22.0): Create takes only computed attributes from the API (L86,
    # UnmarshalComputed), so the state first holds the program's order; Read keeps only csr and
    # requested_validity and takes every other attribute from the API (L130-L137), whose hostnames come sorted
    # (a wildcard, `*.`, before the names it covers). `hostnames` forces replacement (schema.go): in another
    # order every refresh shows a new certificate (terraform-provider-cloudflare issues #5392, #6239).
    "cloudflare:index/originCaCertificate:OriginCaCertificate": {"hostnames": sorted},
}


ZONE_SETTING = "cloudflare:index/zoneSetting:ZoneSetting"
CLOUDFLARE_ZONE_SETTING = CLOUDFLARE_ORIGIN_CA.replace("origin_ca_certificate/resource.go", "zone_setting/")


def zone_setting_read(setting_id: str, value: Any, zone: Mapping[str, Any]) -> Any:
    """What the API answers for setting `setting_id` written as `value`, in a zone whose settings hold `zone`
    (setting id -> value). The provider's Read writes the API's value into the state (CLOUDFLARE_ZONE_SETTING
    resource.go L150-L189: apijson.Unmarshal of the whole result, `value` included).

    tls_1_3 reads "zrt" ("Enabled+0RTT": terraform-provider-cloudflare #106; the API's tls_1_3 values are on, off,
    zrt, docs/resources/zone_setting.md L81) while the zone's 0rtt is on (#7118)."""
    if setting_id == "tls_1_3" and value == "on" and zone.get("0rtt") == "on":
        return "zrt"
    return value


def refreshed_inputs(type_: str, inputs: Mapping[str, Any], zone: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The inputs as a refresh leaves them in the state (REFRESH_READS; a zone setting as zone_setting_read reads
    it in `zone`, the live zone's settings); the rest as the program sent them."""
    reads = REFRESH_READS.get(type_, {})
    read = {k: reads[k](v) if k in reads and isinstance(v, list) else v for k, v in inputs.items()}
    if type_ == ZONE_SETTING and zone is not None:
        read["value"] = zone_setting_read(str(inputs.get("settingId")), inputs.get("value"), zone)
    return read


# The fields the provider's PATCH carries when they changed (model.go L20-L21: the only json fields that are not
# computed; setting_id and zone_id are path parameters and force replacement).
ZONE_SETTING_PATCHED = ("value", "enabled")


def update_refusal(type_: str, properties: tuple[str, ...]) -> str:
    """Why an in-place update of `properties` (changed input paths) of a `type_` resource fails ("" = it doesn't).

    A ZoneSetting's Update sends only the fields that differ from the prior state (CLOUDFLARE_ZONE_SETTING
    resource.go L117, model.go L31-L32 MarshalForPatch); with none of them changed the body is `{}`
    (internal/apijson/encoder.go L673-L683), which Cloudflare refuses with error 1007 (pulumi-cloudflare#1319).
    An option change alone (ignoreChanges, protect, import) never gets here: without a provider diff the engine
    takes a same step and calls no Update (pulumi/pulumi step_generator.go continueStepsFromDiff, L1876-L1911).
    Blind spot: a value only semantically equal to the state's (a number, a list read back as a tuple) also sends
    `{}`; this looks at changed inputs only, so the guard there is tests/test_edge.py's check that every setting's
    value is a string."""
    if type_ != ZONE_SETTING:
        return ""
    fields = {p.removesuffix(" (unknown)").split(".")[0].split("[")[0] for p in properties}
    if fields & set(ZONE_SETTING_PATCHED):
        return ""
    return (
        "the provider PATCHes only changed fields (value, enabled): none changed, so it sends {} and Cloudflare "
        f"answers error 1007 ({CLOUDFLARE_ZONE_SETTING}resource.go#L117; internal/apijson/encoder.go#L673-L683; "
        "pulumi/pulumi-cloudflare#1319)"
    )
