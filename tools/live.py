"""Exported JSON of the live production, as the operator saves it into a LIVE directory (docs/migration.md).

| file | command | format |
|---|---|---|
| hcloud-servers.json | `hcloud server list -o json` | array of hcloud-go `schema.Server` |
| hcloud-networks.json | `hcloud network describe <name> -o json` (or `list -o json`) | `schema.Network` (or an array) |
| hcloud-placement-groups.json | `hcloud placement-group list -o json` | array of `schema.PlacementGroup` |
| hcloud-ssh-keys.json | `hcloud ssh-key list -o json` | array of `schema.SSHKey` |
| hcloud-firewalls.json | `hcloud firewall list -o json` | array of `schema.Firewall` |
| cloudflare-dns-records.json | `GET /zones/{zone_id}/dns_records?per_page=5000` | API envelope, `result`: records |
| cloudflare-settings.json | `GET /zones/{zone_id}/settings` | API envelope, `result`: `{id, value, ...}` |
| cloudflare-ssl-automatic-mode.json | `GET /zones/{zone_id}/settings/ssl_automatic_mode` | `result`: `{id, value}` |
| kubectl-*.json | `kubectl get <kinds> -A -o json` | a `List` with `items` |

The hcloud CLI prints the API's schema objects for `-o json` (hetznercloud/cli, internal/cmd/server/list.go:
`Schema` maps every server through `hcloud.SchemaFromServer`); their fields are those of hcloud-go's
hcloud/schema/*.go (server.go: `public_net`, `private_net`, `protection`, `placement_group`, `location` …).
Cloudflare's are in its API reference: developers.cloudflare.com/api/resources/dns/subresources/records/
methods/list and .../zones/subresources/settings/methods/get. The bulk settings list leaves `ssl_automatic_mode`
out (terraform-provider-cloudflare v4.52.8 reads it on its own: internal/sdkv2provider/
resource_cloudflare_zone_settings_override.go L44-L56 `fetchAsSingleSetting`), so it has a file of its own
(.../ssl/subresources/automatic_upgrader/methods/get). Every file but the servers is optional.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


def _load(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise ValueError(f"{path.name}: not JSON ({error})") from error


def _array(directory: Path, name: str, *, required: bool = False) -> list[dict[str, Any]]:
    """A file holding an array (or a single object, as `describe` prints) as a list; [] when absent."""
    path = directory / name
    if not path.exists():
        if required:
            raise ValueError(f"{directory}/{name} is missing; see tools/live.py for the command")
        return []
    data = _load(path)
    return data if isinstance(data, list) else [data]


def _result(directory: Path, name: str) -> list[dict[str, Any]]:
    """The `result` list of a Cloudflare API response saved to `name`; [] when absent."""
    path = directory / name
    if not path.exists():
        return []
    data = _load(path)
    if not isinstance(data, dict) or not data.get("success", True) or not isinstance(data.get("result"), list):
        raise ValueError(f"{name}: not a successful Cloudflare API response with a `result` list")
    return list(data["result"])


def _single(directory: Path, name: str) -> list[dict[str, Any]]:
    """The `result` object of a Cloudflare API response for one item saved to `name`, as a list; [] when absent."""
    path = directory / name
    if not path.exists():
        return []
    data = _load(path)
    if not isinstance(data, dict) or not data.get("success", True) or not isinstance(data.get("result"), dict):
        raise ValueError(f"{name}: not a successful Cloudflare API response with a `result` object")
    # The item is named by the file, not by the answer's `id`: the ssl_automatic_mode endpoint's documented
    # example names itself `ssl_tls_configuration_mode`, and the match is by setting id.
    return [{**data["result"], "id": name.removeprefix("cloudflare-").removesuffix(".json").replace("-", "_")}]


@dataclass(frozen=True)
class Live:
    """Everything the LIVE directory holds."""

    servers: list[dict[str, Any]]
    networks: list[dict[str, Any]] = field(default_factory=list)
    placement_groups: list[dict[str, Any]] = field(default_factory=list)
    ssh_keys: list[dict[str, Any]] = field(default_factory=list)
    firewalls: list[dict[str, Any]] = field(default_factory=list)
    dns_records: list[dict[str, Any]] = field(default_factory=list)
    zone_settings: list[dict[str, Any]] = field(default_factory=list)
    kubernetes: list[dict[str, Any]] = field(default_factory=list)


def load_live(directory: Path) -> Live:
    """Reads the LIVE directory; raises ValueError naming the file that is missing or malformed."""
    if not directory.is_dir():
        raise ValueError(f"{directory} is not a directory: export the live resources into it first (tools/live.py)")
    objects: list[dict[str, Any]] = []
    for path in sorted(directory.glob("kubectl-*.json")):
        data = _load(path)
        objects += data.get("items", []) if data.get("kind", "").endswith("List") else [data]
    return Live(
        servers=_array(directory, "hcloud-servers.json", required=True),
        networks=_array(directory, "hcloud-networks.json"),
        placement_groups=_array(directory, "hcloud-placement-groups.json"),
        ssh_keys=_array(directory, "hcloud-ssh-keys.json"),
        firewalls=_array(directory, "hcloud-firewalls.json"),
        dns_records=_result(directory, "cloudflare-dns-records.json"),
        zone_settings=_result(directory, "cloudflare-settings.json")
        + _single(directory, "cloudflare-ssl-automatic-mode.json"),
        kubernetes=objects,
    )
