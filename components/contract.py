"""The names of the stack outputs other teams consume (docs/outputs.md): the contract, in one place.

components/outputs.py exports them from prod; outputs-stack/ re-exports exactly these into the stack consumers
are granted, so that reading them never needs access to prod's state (issue 22 item 4). Standard library only:
the outputs stack imports this module and nothing else of the program.
"""

from __future__ import annotations

CONTRACT_OUTPUTS = (
    "nodes",
    "agents",
    "apiServerUrl",
    "appNamespace",
    "appKubeconfig",
    "publicHostnames",
    "cloudflareZoneId",
    "hetznerNetworkId",
    "k3sVersion",
    "k3sGenesis",
    "k3sTokenSource",
    "adoptedNodes",
    "deployKeyGeneration",
    "originPulls",
)
