"""Entry point the Pulumi CLI runs for `--policy-pack policy`: serves the Honeydue policies.

PolicyPack starts a gRPC server and blocks, so the policies live in `honeydue_policies`, which the tests
import; this file only builds the pack.
"""

from honeydue_policies import PACK_NAME, POLICIES
from pulumi_policy import EnforcementLevel, PolicyPack

PolicyPack(name=PACK_NAME, policies=POLICIES, enforcement_level=EnforcementLevel.MANDATORY)
