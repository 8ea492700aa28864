"""The engine-diff model (offline.engine_diff) on small synthetic states and programs, one rule at a time.

Each rule is read from the engine or a provider (sources in offline/engine_model.py and
offline/replace_rules.py); these tests pin the model to them without running the program.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from offline.engine_diff import command_effect, diff_plans
from offline.engine_model import changed_paths, path_under, paths_overlap
from offline.records import UNKNOWN, Registration, SecretValue
from offline.replace_rules import rule_for

SERVER = "hcloud:index/server:Server"
COMMAND = "command:remote:Command"
RECORD = "cloudflare:index/dnsRecord:DnsRecord"
SECRET = "kubernetes:core/v1:Secret"
K8S = "pulumi:providers:kubernetes"


def urn(name: str, type_: str = SERVER) -> str:
    return f"urn:pulumi:prod::honeydue::{type_}::{name}"


def reg(name: str, type_: str = SERVER, inputs: dict[str, Any] | None = None, **options: Any) -> Registration:
    """A registration with the given options; `after` names resources (of any type) it depends on."""
    after = options.pop("after", ())
    fields: dict[str, Any] = {
        "urn": urn(name, type_),
        "id": f"id-{name}",
        "type": type_,
        "name": name,
        "parent": "",
        "custom": True,
        "inputs": inputs or {},
        "dependencies": tuple(sorted(after)),
        "provider": "",
        "protect": False,
        "ignore_changes": (),
        "replace_on_changes": (),
        "additional_secret_outputs": (),
        "delete_before_replace": False,
        "import_id": "",
        "custom_timeouts": {},
    }
    fields.update(options)
    return Registration(**fields)


def changed(r: Registration, **inputs: Any) -> Registration:
    return dataclasses.replace(r, inputs={**r.inputs, **inputs})


def ops(diff: Any) -> list[tuple[str, str]]:
    names = {c.urn: c.name for c in diff.changes}
    return [(s.op, names[s.urn]) for s in diff.steps]


def kubeconfig(ca: str, server: str = "https://k8s.example:6443") -> SecretValue:
    return SecretValue(
        f"apiVersion: v1\nclusters:\n- cluster:\n    certificate-authority-data: {ca}\n    server: {server}\n"
        "  name: default\ncontexts:\n- context:\n    cluster: default\n    user: default\n  name: default\n"
        "current-context: default\nusers:\n- name: default\n  user:\n    token: t\n"
    )


def test_paths_match_under_and_over_with_wildcards() -> None:
    assert path_under("spec.selector", "spec.selector.matchLabels.app")
    # The engine's rule is one way (properties_path.go L310-L342): a change at the parent misses a nested pattern.
    assert path_under("triggers[*]", "triggers[0]") and not path_under("triggers[*]", "triggers")
    assert paths_overlap("triggers[*]", "triggers")  # a provider's forcing field inside a block added whole
    assert not path_under("spec.selector", "spec.template") and not path_under("create", "update")


def test_changed_paths_compare_secrets_by_value_and_flag_unknowns() -> None:
    old = {"a": {"b": 1, "c": [1, 2]}, "s": SecretValue("x")}
    assert changed_paths(old, {"a": {"b": 1, "c": [1, 3]}, "s": SecretValue("x")}) == ["a.c[1]"]
    assert changed_paths(old, {**old, "s": SecretValue("y")}) == ["s"]
    assert changed_paths(old, {**old, "a": UNKNOWN}) == ["a (unknown)"]


def test_same_and_in_place_update() -> None:
    server = reg("s1", inputs={"serverType": "cx33", "image": "ubuntu-24.04"})
    diff = diff_plans([server], [server])
    assert [c.action for c in diff.changes] == ["same"] and diff.steps == ()
    diff = diff_plans([server], [changed(server, serverType="cx43")])
    assert diff.change("s1").action == "update" and diff.change("s1").properties == ("serverType",)


def test_a_replace_forcing_property_replaces_with_its_source() -> None:
    server = reg("s1", inputs={"image": "ubuntu-24.04"})
    change = diff_plans([server], [changed(server, image="ubuntu-26.04")]).change("s1")
    assert change.action == "replace"
    assert "terraform-provider-hcloud" in change.reasons[0] and change.reasons[0].startswith("image ")


def test_ignore_changes_keeps_the_old_value() -> None:
    server = reg("s1", inputs={"userData": SecretValue("boot-1")}, ignore_changes=("userData",))
    assert diff_plans([server], [changed(server, userData=SecretValue("boot-2"))]).change("s1").action == "same"
    bare = dataclasses.replace(server, ignore_changes=())
    assert diff_plans([bare], [changed(bare, userData=SecretValue("boot-2"))]).change("s1").action == "replace"


def test_triggers_and_replace_on_changes_replace() -> None:
    step = reg("install", COMMAND, {"create": "x", "triggers": ["id-1"]})
    assert diff_plans([step], [changed(step, triggers=["id-2"])]).change("install").action == "replace"
    assert diff_plans([step], [changed(step, create="y")]).change("install").action == "update"
    record = reg("rec", RECORD, {"content": "1.2.3.4"}, replace_on_changes=("content",))
    change = diff_plans([record], [changed(record, content="1.2.3.5")]).change("rec")
    assert change.action == "replace" and "replaceOnChanges content" in change.reasons[0]


def test_a_dependent_is_not_replaced_because_its_dependency_is() -> None:
    server = reg("s1", inputs={"image": "a"})
    record = reg("rec", RECORD, {"content": "1.2.3.4"}, after=[server.urn])
    diff = diff_plans([server, record], [changed(server, image="b"), record])
    assert diff.change("s1").action == "replace" and diff.change("rec").action == "same"


def test_create_before_delete_deletes_the_old_one_last() -> None:
    server = reg("s1", inputs={"image": "a"})
    record = reg("rec", RECORD, {"content": "1.2.3.4"}, after=[server.urn])
    diff = diff_plans([server, record], [changed(server, image="b"), changed(record, content="1.2.3.5")])
    assert ops(diff) == [("create-replacement", "s1"), ("update", "rec"), ("delete-replaced", "s1")]


def test_delete_before_replace_deletes_replaced_dependents_first() -> None:
    server = reg("s1", inputs={"image": "a"}, delete_before_replace=True)
    on_server = {"property_dependencies": {"triggers": (server.urn,)}}
    install = reg("install", COMMAND, {"triggers": ["id-s1"]}, after=[server.urn], **on_server)
    ready = reg("ready", COMMAND, {"triggers": ["id-s1"], "create": "x"}, after=[install.urn], **on_server)
    record = reg("rec", RECORD, {"content": "ip-1"}, after=[server.urn])
    state = [server, install, ready, record]
    program = [changed(server, image="b"), changed(install, triggers=["id-s1b"]), changed(ready, triggers=["id-s1b"])]
    diff = diff_plans(state, [*program, changed(record, content="ip-2")])
    assert ops(diff) == [
        ("delete-replaced", "ready"),
        ("delete-replaced", "install"),
        ("delete-replaced", "s1"),
        ("create-replacement", "s1"),
        ("update", "rec"),  # independent of install: ties go by URN, the engine runs them in parallel
        ("create-replacement", "install"),
        ("create-replacement", "ready"),
    ]
    assert diff.change("s1").delete_before_replace and not diff.change("install").delete_before_replace


def test_only_property_dependents_are_deleted_before_a_delete_first_replacement() -> None:
    # calculateDependentReplacements (step_generator.go L3268-L3415): a dependsOn edge alone never makes a
    # dependent delete-first, even when it is replaced for its own reasons; it is replaced create-first.
    server = reg("s1", inputs={"image": "a"}, delete_before_replace=True)
    step = reg("step", COMMAND, {"triggers": ["t1"]}, after=[server.urn])
    diff = diff_plans([server, step], [changed(server, image="b"), changed(step, triggers=["t2"])])
    assert ops(diff) == [
        ("delete-replaced", "s1"),
        ("create-replacement", "s1"),
        ("create-replacement", "step"),
        ("delete-replaced", "step"),
    ]


def test_deletes_run_last_in_reverse_dependency_order() -> None:
    network = reg("net", "hcloud:index/network:Network")
    server = reg("s1", after=[network.urn])
    step = reg("install", COMMAND, {"delete": "drain"}, after=[server.urn])
    keep = reg("keep", RECORD, {"content": "x"})
    diff = diff_plans([network, server, step, keep], [changed(keep, content="y")])
    assert ops(diff) == [("update", "keep"), ("delete", "install"), ("delete", "s1"), ("delete", "net")]
    assert diff.forced_before("install", "s1") and not diff.forced_before("s1", "install")
    assert diff.forced_before("keep", "net")  # deletes come after every step of the program
    assert command_effect(diff.change("install"), step, None) == "runs its delete script"


def test_protect_blocks_replace_and_delete_unless_unprotected_in_state() -> None:
    server = reg("s1", inputs={"image": "a"}, protect=True)
    assert "protected" in diff_plans([server], [changed(server, image="b")]).change("s1").blocked
    unprotected = dataclasses.replace(server, protect=False)
    assert diff_plans([unprotected], [changed(server, image="b")]).change("s1").blocked == ""
    assert "protected" in diff_plans([server], []).change("s1").blocked


def test_hetzner_delete_protection_blocks_the_delete() -> None:
    server = reg("s1", inputs={"deleteProtection": True})
    assert "Hetzner delete protection" in diff_plans([server], []).change("s1").blocked


def test_a_resource_that_still_carries_import_cannot_be_replaced() -> None:
    server = reg("s1", inputs={"image": "a"}, import_id="42")
    assert diff_plans([], [server]).change("s1").action == "import"
    assert "import 42" in diff_plans([server], [changed(server, image="b")]).change("s1").blocked


def test_a_protected_dependent_blocks_a_delete_before_replace_chain() -> None:
    server = reg("s1", inputs={"image": "a"}, delete_before_replace=True)
    volume = reg(
        "vol",
        "hcloud:index/network:Network",
        {"ipRange": "10.0.0.0/16"},
        after=[server.urn],
        protect=True,
        property_dependencies={"ipRange": (server.urn,)},
    )
    diff = diff_plans([server, volume], [changed(server, image="b"), changed(volume, ipRange="10.1.0.0/16")])
    assert "blocked" in diff.change("s1").blocked and "protected" in diff.change("vol").blocked


def _k8s_world(old_provider: dict[str, Any], new_provider: dict[str, Any]) -> Any:
    provider = reg("k8s", K8S, old_provider)
    secret = reg(
        "app",
        SECRET,
        {"metadata": {"name": "app", "namespace": "ns"}, "stringData": SecretValue("a")},
        provider=f"{provider.urn}::id-k8s",
        after=[provider.urn],
    )
    return diff_plans([provider, secret], [changed(provider, **new_provider), secret])


def test_a_new_cluster_ca_replaces_the_provider_and_every_object() -> None:
    diff = _k8s_world({"kubeconfig": kubeconfig("CA1")}, {"kubeconfig": kubeconfig("CA2")})
    assert diff.change("k8s").action == "replace" and "certificate-authority-data" in diff.change("k8s").reasons[0]
    app = diff.change("app")
    assert app.action == "replace" and "its provider k8s is replaced" in app.reasons[0]
    assert not app.delete_before_replace  # the provider's Diff is not asked: create first, then delete the old
    assert ops(diff)[-1] == ("delete-replaced", "k8s")


@pytest.mark.parametrize(
    ("old", "new", "replaced"),
    [
        ({"clusterIdentifier": "prod"}, {"clusterIdentifier": "prod"}, False),
        ({"clusterIdentifier": "prod"}, {"clusterIdentifier": "prod2"}, True),
        ({}, {"clusterIdentifier": "prod"}, True),  # adding it is no shield yet (DiffConfig: Same, not Updated)
    ],
)
def test_cluster_identifier_decides_the_provider_identity(
    old: dict[str, Any], new: dict[str, Any], replaced: bool
) -> None:
    diff = _k8s_world({"kubeconfig": kubeconfig("CA1"), **old}, {"kubeconfig": kubeconfig("CA2"), **new})
    assert (diff.change("k8s").action == "replace") is replaced
    assert (diff.change("app").action == "replace") is replaced


def test_an_unknown_kubeconfig_replaces_the_provider_unless_identified() -> None:
    assert _k8s_world({"kubeconfig": kubeconfig("CA1")}, {"kubeconfig": UNKNOWN}).change("k8s").action == "replace"
    ident = {"clusterIdentifier": "prod"}
    diff = _k8s_world({"kubeconfig": kubeconfig("CA1"), **ident}, {"kubeconfig": UNKNOWN, **ident})
    assert diff.change("k8s").action == "update"


def test_secret_data_replaces_delete_first_unless_the_provider_makes_secrets_mutable() -> None:
    provider = reg("k8s", K8S, {"kubeconfig": kubeconfig("CA1")})
    secret = reg(
        "app", SECRET, {"metadata": {"name": "app"}, "stringData": SecretValue("a")}, provider=f"{provider.urn}::1"
    )
    diff = diff_plans([provider, secret], [provider, changed(secret, stringData=SecretValue("b"))])
    assert diff.change("app").action == "replace" and diff.change("app").delete_before_replace
    assert ops(diff) == [("delete-replaced", "app"), ("create-replacement", "app")]
    mutable = changed(provider, enableSecretMutable="true")
    diff = diff_plans([mutable, secret], [mutable, changed(secret, stringData=SecretValue("b"))])
    assert diff.change("app").action == "update"


def test_an_ignored_create_re_runs_its_old_text() -> None:
    step = reg("install", COMMAND, {"create": "v1", "connection": {"host": "a"}}, ignore_changes=("create",))
    diff = diff_plans([step], [changed(step, create="v2", connection={"host": "b"})])
    change = diff.change("install")
    assert change.action == "update" and change.properties == ("connection.host",)
    assert "OLD create text" in command_effect(change, step, changed(step, create="v2"))


def test_a_type_without_a_rule_is_an_error() -> None:
    with pytest.raises(KeyError, match="no replace rule"):
        rule_for("aws:s3/bucket:Bucket")
    odd = reg("b", "aws:s3/bucket:Bucket", {"x": 1})
    with pytest.raises(KeyError):
        diff_plans([odd], [changed(odd, x=2)])


def test_a_replacement_runs_the_programs_create_targeted_or_not_and_an_update_the_held_one() -> None:
    # step_generator.go L1321-L1333 (a --replace target is checked from the program's inputs, no old ones) and
    # L2003-L2022 (any replacement re-checks the program's inputs): ignoreChanges only decides whether to replace.
    step = reg("install", COMMAND, {"create": "v1", "triggers": ["a"]}, ignore_changes=("create",))
    new = changed(step, create="v2", triggers=["b"])
    change = diff_plans([step], [new]).change("install")
    assert change.action == "replace" and command_effect(change, step, new) == "runs create"
    targeted = diff_plans([step], [changed(step, create="v2")], replace=[step.urn]).change("install")
    assert targeted.targeted and command_effect(targeted, step, changed(step, create="v2")) == "runs create"
    held = dataclasses.replace(step, inputs={**step.inputs, "update": "u"})
    edit = diff_plans([held], [changed(held, update="u2")]).change("install")
    assert edit.action == "update" and command_effect(edit, held, changed(held, update="u2")) == "runs update"
    bare = reg("leave", COMMAND, {"delete": "d"})
    assert command_effect(diff_plans([bare], [changed(bare, delete="e")]).change("leave"), bare, None) == ""
    edit_bare = diff_plans([bare], [changed(bare, delete="e")]).change("leave")
    assert command_effect(edit_bare, bare, changed(bare, delete="e")) == "nothing runs (no create, no update)"
    kept = dataclasses.replace(bare, retain_on_delete=True)
    assert command_effect(diff_plans([kept], []).change("leave"), kept, None) == "nothing runs (retainOnDelete)"


@pytest.mark.parametrize(("ca", "action"), [("CA1", "same"), ("CA2", "replace")])
def test_moving_to_another_provider_replaces_only_when_it_points_at_another_cluster(ca: str, action: str) -> None:
    first, second = (
        reg("k8s-a", K8S, {"kubeconfig": kubeconfig("CA1")}),
        reg("k8s-b", K8S, {"kubeconfig": kubeconfig(ca)}),
    )
    data = {"metadata": {"name": "ns"}}
    old = reg("ns", "kubernetes:core/v1:Namespace", data, provider=f"{first.urn}::1")
    new = dataclasses.replace(old, provider=f"{second.urn}::2")
    assert diff_plans([first, old], [first, second, new]).change("ns").action == action


def test_a_failed_delete_cancels_the_later_rounds_of_the_schedule() -> None:
    # ScheduleDeletes (step_generator.go L2747-L2796) levels deletes from those waiting for no condemned
    # resource, then reverses: an unrelated resource with nothing to wait for is deleted in the LAST round.
    server = reg("s", inputs={"name": "s"})
    leave = reg("leave", COMMAND, {"delete": "exit 1"}, after=[server.urn])
    conv = reg("conv", COMMAND, {"create": "x"}, after=[server.urn])
    dns = reg("dns", RECORD, {"content": "ip"}, after=[leave.urn])
    alone = reg("alone", RECORD, {"content": "x"})
    diff = diff_plans([server, leave, conv, dns, alone], [], failing={leave.urn: "exits 1"})
    assert "its delete fails" in diff.change("leave").blocked
    assert not diff.change("dns").blocked and not diff.change("conv").blocked  # earlier round, same round
    assert "never runs" in diff.change("s").blocked and "never runs" in diff.change("alone").blocked
