"""`<org>/honeydue-outputs/<stack>`: the contract of `<org>/honeydue/<stack>` and nothing else (docs/outputs.md).

A StackReference needs Stack Read on the stack it reads, which includes `stack:export` and `stack:decrypt` of its
whole state (pulumi/pulumi pkg/backend/backend.go GetStackOutputs exports the checkpoint): a team that may read
prod's outputs could decrypt the deploy key and the cluster-admin token in prod's state. This stack, updated by
CI after every `up` of prod, holds one StackReference to prod and re-exports the contract; its state holds
prod's outputs (which are the contract: tests/test_outputs.py proves no root credential is among them) and
nothing more. Consumers get Stack Read on this stack only.
"""

import sys
from pathlib import Path

import pulumi

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
# The program's checkout: components/contract.py imports nothing else of it.
from components.contract import CONTRACT_OUTPUTS

prod = pulumi.StackReference(f"{pulumi.get_organization()}/honeydue/{pulumi.get_stack()}")
for name in CONTRACT_OUTPUTS:
    pulumi.export(name, prod.get_output(name))
