"""Honeydue production as one Pulumi stack: load and validate config, build the stack, export its outputs."""

from components.config.load import load_from_pulumi
from components.outputs import export_outputs
from components.stack import build

export_outputs(build(load_from_pulumi()))
