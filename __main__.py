"""Honeydue production as one Pulumi stack: load config, build providers, create components, export."""

import pulumi

from components.config import load_from_pulumi
from components.providers import make_providers

config = load_from_pulumi()
providers = make_providers(config.credentials)

pulumi.export("k3sVersion", config.k3s.version)
