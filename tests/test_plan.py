"""The offline plan: complete, deterministic, free of secrets, and the README's picture is current."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from offline.__main__ import SKIPPED_CHECKS
from offline.__main__ import main as offline_main
from offline.graph import overview_dot
from offline.plan import write_plan
from offline.records import Plan
from offline.stack_config import PROJECT_DIR
from tests.validators import require_tool


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_plan_is_deterministic_and_holds_no_secret(prod_plan: Plan, tmp_path: Path) -> None:
    require_tool("dot")
    first, second = tmp_path / "a", tmp_path / "b"
    write_plan(prod_plan, first)
    write_plan(prod_plan, second)
    assert _tree(first) == _tree(second)
    for name, data in _tree(first).items():
        if name.endswith(".png"):
            continue
        text = data.decode()
        assert "PLACEHOLDER" not in text, name
        assert not [s for s in prod_plan.known_secrets if s in text], name


def test_plan_lists_every_resource_and_the_node_documents(prod_plan: Plan, tmp_path: Path) -> None:
    write_plan(prod_plan, tmp_path, render_graph=False)
    resources = (tmp_path / "resources.md").read_text()
    for reg in prod_plan.registrations:
        assert f"| `{reg.type}` | {reg.name} |" in resources
    for node in ("honeydue-1", "honeydue-2", "honeydue-3"):
        assert (tmp_path / "nodes" / node / "cloud-init.yaml").is_file()
        assert (tmp_path / "nodes" / node / "files/usr/local/sbin/honeydue-firewall").is_file()
    outputs = json.loads((tmp_path / "outputs.json").read_text())
    assert outputs["k3sVersion"] == "v1.34.6+k3s1"


def test_readme_graph_is_current(prod_plan: Plan) -> None:
    committed = (PROJECT_DIR / "docs" / "graph.dot").read_text()
    assert committed == overview_dot(prod_plan), "docs/graph.dot is stale: run `make docs-graph`"


def test_make_plan_entry_point_reports_bad_config_without_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """In this process: `python -m offline` runs this main (the next test runs the module itself); a refusal must
    come back as exit status 1 and the problems on stderr, not as an exception the interpreter would print."""
    status = offline_main(["--out", str(tmp_path), "--set", "serverCount=2", "--set", "sslMode=off"])
    stderr = capsys.readouterr().err
    assert status == 1
    assert "Traceback" not in stderr
    assert "honeydue:serverCount: must be odd" in stderr
    assert "honeydue:sslMode: must be one of" in stderr
    assert not (tmp_path / "resources.md").exists()


def test_make_plan_entry_point_writes_the_plan(tmp_path: Path) -> None:
    require_tool("dot")
    result = subprocess.run(
        [sys.executable, "-m", "offline", "--out", str(tmp_path / "plan")],
        capture_output=True,
        text=True,
        cwd=PROJECT_DIR,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    for name in ("resources.md", "outputs.json", "graph.svg", "graph.png"):
        assert (tmp_path / "plan" / name).is_file()
    # Issue 24 item 4: without the deployed outputs, the plan says which checks did not run.
    assert result.stdout.splitlines()[-1] == SKIPPED_CHECKS


def test_the_plan_runs_the_deployed_state_checks_when_given_the_outputs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    deployed = tmp_path / "outputs.json"
    deployed.write_text(json.dumps({"k3sVersion": "v1.32.1+k3s1", "k3sTokenSource": "random"}))
    assert offline_main(["--out", str(tmp_path / "plan"), "--deployed", str(deployed)]) == 1
    err = capsys.readouterr().err
    assert "honeydue:k3sVersion: v1.32.1+k3s1 -> v1.34.6+k3s1 skips a minor version" in err
    deployed.write_text("[1, 2]")
    assert offline_main(["--out", str(tmp_path / "plan"), "--deployed", str(deployed)]) == 1
    assert capsys.readouterr().err.splitlines() == [f"error: --deployed {deployed}: expected a JSON object of outputs"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (None, "Pulumi.staging.yaml does not exist: no stack 'staging' here (stacks: prod)"),
        ("config:\n  honeydue:serverCount: [3\n", "Pulumi.staging.yaml is not valid YAML at line 3, column 1:"),
        ("- a list\n", "Pulumi.staging.yaml must be a mapping with a `config:` section"),
        ("config: 5\n", "Pulumi.staging.yaml must be a mapping with a `config:` section"),
        ("config:\n  5: 6\n", "Pulumi.staging.yaml: config key 5 is not a `namespace:key` name"),
        (
            "config:\n  honeydue:serverCount: 3\n  honeydue:serverCount: 5\n",
            "Pulumi.staging.yaml is not valid YAML at line 3, column 3: 'honeydue:serverCount' is given twice",
        ),
    ],
)
def test_a_missing_or_broken_stack_file_is_one_sentence(tmp_path: Path, text: str | None, expected: str) -> None:
    # Issue 24 item 5: `make plan STACK=staging` or a YAML slip says what and where, with no traceback.
    from offline.stack_config import StackFileError, stack_config

    (tmp_path / "Pulumi.yaml").write_text((PROJECT_DIR / "Pulumi.yaml").read_text())
    (tmp_path / "Pulumi.prod.yaml").write_text("config: {}\n")
    if text is not None:
        (tmp_path / "Pulumi.staging.yaml").write_text(text)
    with pytest.raises(StackFileError) as caught:
        stack_config("staging", project_dir=tmp_path)
    message = str(caught.value)
    assert message.startswith(expected) and "\n" not in message and "Traceback" not in message


def test_a_secret_stored_encrypted_in_the_stack_file_is_a_set_secret_offline(tmp_path: Path) -> None:
    # With a self-managed backend `pulumi config set --secret honeydue:k3sToken < file` stores it encrypted;
    # only the CLI can open it, so the offline tools take it as set (its placeholder), not as a bad value.
    from offline.stack_config import secret_placeholder, stack_config

    (tmp_path / "Pulumi.yaml").write_text((PROJECT_DIR / "Pulumi.yaml").read_text())
    (tmp_path / "Pulumi.prod.yaml").write_text("config:\n  honeydue:k3sToken:\n    secure: v1:AAAA\n")
    config, secret_keys = stack_config("prod", project_dir=tmp_path)
    assert config["honeydue:k3sToken"] == secret_placeholder("k3sToken") and "honeydue:k3sToken" in secret_keys


def test_resources_md_lists_a_component_s_waits_once_and_marks_retired_steps(prod_plan: Plan) -> None:
    # Issue 24 item 8: rows show each resource's own dependencies; what every child inherits from its
    # component (components/anatomy.py child_options) is listed once above the table.
    from offline.plan import is_retired, resources_markdown

    text = resources_markdown(prod_plan)
    apps = text.split("## honeydue:apps:Apps honeydue-apps", 1)[1].split("\n## ", 1)[0]
    assert "also waits for what the component waits for: honeydue-edge-tls-settle, honeydue-k3s-1-ready" in apps
    policy = next(ln for ln in apps.splitlines() if "| honeydue-networkpolicy-admin-egress |" in ln)
    assert policy.split(" | ")[4] == "namespace-honeydue"
    retired = sorted(r.name for r in prod_plan.registrations if is_retired(r))
    assert retired == [f"honeydue-k3s-{i}-remove" for i in (1, 2, 3)]
    for name in retired:
        assert f"| {name} |" in text and "retired: no script" in text.split(f"| {name} |", 1)[1].split("\n", 1)[0]


def test_scenario_names_and_descriptions_are_distinct_and_adoption_is_listed() -> None:
    from offline.scenarios import SCENARIOS

    summaries = [make().summary for make in SCENARIOS.values()]
    assert len(set(summaries)) == len(summaries) and {"adopt", "adopt-ends"} <= set(SCENARIOS)


def test_make_plan_live_renders_each_node_s_config_yaml_with_its_real_addresses(tmp_path: Path) -> None:
    # Issue 24 item 1: docs/migration.md has the operator make each node's config.yaml byte for byte what the
    # stack writes there; `make plan PLAN_ARGS='--live live/'` renders it with the addresses of step 2's export.
    from offline import fakes
    from offline.__main__ import _live_addresses
    from offline.harness import run_program
    from offline.plan import converged_files

    servers = [
        {
            "name": f"honeydue-{i}",
            "public_net": {"ipv4": {"ip": f"198.51.100.{i}"}, "ipv6": {"ip": f"2a01:4f8:{i}::/64"}},
        }
        for i in (1, 2, 3)
    ]
    (tmp_path / "hcloud-servers.json").write_text(json.dumps(servers))
    plan = run_program("prod", world=fakes.World(addresses=_live_addresses(tmp_path)))
    files = converged_files(plan)
    config = yaml.safe_load(files["honeydue-2/files/etc/rancher/k3s/config.yaml"])
    assert config["node-external-ip"] == ["198.51.100.2"] and config["node-name"] == "honeydue-2"
    assert config["tls-san"][:2] == ["198.51.100.2", "2a01:4f8:2::1"]
    assert all(f"honeydue-{i}/files/etc/rancher/k3s/config.yaml" in files for i in (1, 2, 3))
    # The rendered text is exactly what the step writes (components/remote.written_files inverts remote_command).
    converge = plan.get("command:remote:Command", "honeydue-k3s-2-converge")
    assert files["honeydue-2/files/etc/rancher/k3s/config.yaml"] in str(converge.inputs["create"])


def test_make_plan_live_names_a_server_missing_from_the_export(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from offline.__main__ import main as offline_main

    (tmp_path / "hcloud-servers.json").write_text("[]")
    assert offline_main(["--live", str(tmp_path), "--out", str(tmp_path / "plan")]) == 1
    assert "no server named honeydue-1, honeydue-2, honeydue-3" in capsys.readouterr().err
