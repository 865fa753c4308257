"""The kinds a plan may target (`targets.kinds` of the operator's configuration): parsed with errors
that name the key and list what is supported, the TapPlatform alone by default, and the one
sentence a plan naming another kind is Blocked with. The CRD names are checked against the
upstream CRDs in ../shared/schemas, since the chart grants `get` on exactly those names."""

from __future__ import annotations

import pytest
import yaml

from tap_optimizer import configuration
from tap_optimizer.cli import EXIT_BAD_INPUT, main
from tap_optimizer.cluster import plural
from tap_optimizer.gates.endpoints import ConfigError
from tap_optimizer.targets import ack_kinds, allowed, managed
from tests.support.crds import SCHEMAS

TAPPLATFORM = {"apiVersion": "platform.tap.io/v1alpha1", "kind": "TapPlatform"}
DB_INSTANCE = {"apiVersion": "rds.services.k8s.aws/v1alpha1", "kind": "DBInstance"}
TABLE = {"apiVersion": "dynamodb.services.k8s.aws/v1alpha1", "kind": "Table"}
CLUSTER_INSTANCE = {"apiVersion": "rds.aws.m.upbound.io/v1beta1", "kind": "ClusterInstance"}


def kinds(*entries):
    return {"targets": {"kinds": list(entries)}}


@pytest.mark.parametrize("document", [None, {}, {"gates": {}}, {"targets": None}, {"targets": {"kinds": None}}],
                         ids=["no file", "empty file", "no targets section", "targets empty", "kinds empty"])
def test_without_a_list_only_the_tapplatform_is_allowed(document):
    assert allowed.parse(document) == allowed.DEFAULT == {("platform.tap.io/v1alpha1", "TapPlatform")}


def test_the_listed_kinds_are_allowed_and_only_those():
    found = allowed.parse(kinds(DB_INSTANCE, TABLE, CLUSTER_INSTANCE))
    assert found == {("rds.services.k8s.aws/v1alpha1", "DBInstance"), ("dynamodb.services.k8s.aws/v1alpha1", "Table"),
                     ("rds.aws.m.upbound.io/v1beta1", "ClusterInstance")}, "the TapPlatform only when listed"


@pytest.mark.parametrize(("document", "wanted"), [
    ({"targets": ["TapPlatform"]}, "targets: expected a mapping with the keys kinds and instanceRefresh"),
    ({"targets": {"kinds": [], "resources": []}}, "targets: expected a mapping with the keys kinds and "
                                                  "instanceRefresh"),
    ({"targets": {"kinds": "TapPlatform"}}, "targets.kinds: expected a non-empty list of {apiVersion, kind}; "
                                            "supported: platform.tap.io/v1alpha1 TapPlatform, "),
    ({"targets": {"kinds": []}}, "targets.kinds: expected a non-empty list of {apiVersion, kind}; supported: "),
    (kinds("TapPlatform"), "targets.kinds[0]: expected a mapping with keys apiVersion, kind"),
    (kinds(TAPPLATFORM, {**TABLE, "resource": "tables"}),
     "targets.kinds[1].resource: unknown key; allowed: apiVersion, kind"),
    (kinds({"apiVersion": "platform.tap.io/v1alpha1"}),
     "targets.kinds[0].kind: required, a string such as TapPlatform"),
    (kinds({"apiVersion": 1, "kind": "Table"}),
     "targets.kinds[0].apiVersion: required, a string such as platform.tap.io/v1alpha1"),
    (kinds(TAPPLATFORM, TABLE, {"apiVersion": "rds.services.k8s.aws/v1alpha1", "kind": "DBSnapshot"}),
     "targets.kinds[2].kind: rds.services.k8s.aws/v1alpha1 DBSnapshot is not a kind the operator can change; "
     "supported: platform.tap.io/v1alpha1 TapPlatform, "),
    (kinds({"apiVersion": "rds.services.k8s.aws/v1beta1", "kind": "DBInstance"}),
     "targets.kinds[0].apiVersion: rds.services.k8s.aws/v1beta1 DBInstance is not a kind the operator can change"),
    (kinds({"apiVersion": "v1", "kind": "ConfigMap"}), "targets.kinds[0].apiVersion: v1 ConfigMap is not a kind"),
    (kinds(DB_INSTANCE, TABLE, DB_INSTANCE),
     "targets.kinds[2]: rds.services.k8s.aws/v1alpha1 DBInstance is listed twice (also targets.kinds[0])"),
], ids=["targets is not a mapping", "targets has another key", "kinds is not a list", "kinds is an empty list",
        "an entry is not a mapping", "an entry has an unknown key", "an entry lacks its kind",
        "an apiVersion is not a string", "a kind no adapter changes", "a version no adapter changes",
        "a core kind", "a kind listed twice"])
def test_a_wrong_section_is_refused_naming_the_key(document, wanted):
    with pytest.raises(ConfigError) as raised:
        allowed.parse(document)
    assert str(raised.value).startswith(wanted), raised.value


def test_an_unsupported_kind_is_refused_listing_every_supported_one():
    with pytest.raises(ConfigError) as raised:
        allowed.parse(kinds({"apiVersion": "ec2.services.k8s.aws/v1alpha1", "kind": "LaunchTemplate"}))
    listed = str(raised.value).partition("supported: ")[2].split(", ")
    assert listed == [f"{api_version} {kind}" for api_version, kind in allowed.supported()]


def test_supported_kinds_are_the_tapplatform_and_every_ack_and_managed_adapter():
    assert allowed.supported()[0] == ("platform.tap.io/v1alpha1", "TapPlatform")
    assert set(allowed.supported()) == {("platform.tap.io/v1alpha1", "TapPlatform")} | {
        (f"{group}/v1alpha1", kind) for group, kind in ack_kinds.KINDS} | {
        (f"{key.split('/')[0]}.aws.m.upbound.io/v1beta1", key.split("/")[1]) for key in managed.RULES}
    assert len(set(allowed.supported())) == len(allowed.supported())


def upstream_crd_names() -> set[str]:
    return {yaml.load(path.read_text(), Loader=yaml.CSafeLoader)["metadata"]["name"]
            for folder in ("ack", "provider-aws") for path in (SCHEMAS / folder).glob("*.yaml")
            if not path.name.endswith(".md")}


def test_every_supported_kinds_crd_name_is_its_upstream_crds():
    """The chart grants `get` on CRDs by these names: a wrong guess would grant nothing useful."""
    names = {allowed.crd_name(*pair) for pair in allowed.supported()[1:]}
    assert names <= upstream_crd_names()
    assert allowed.crd_name(*allowed.TAPPLATFORM) == "tapplatforms.platform.tap.io"


@pytest.mark.parametrize(("kind", "wanted"), [("DBInstance", "dbinstances"), ("AutoscalingGroup", "autoscalinggroups"),
                                              ("Policy", "policies"), ("Gateway", "gateways"), ("Address", "addresses"),
                                              ("Table", "tables")])
def test_resource_names_follow_the_rule_of_the_crds_and_of_the_operators_calls(kind, wanted):
    assert allowed.resource(kind) == plural(kind) == wanted


def test_an_allowed_kind_has_no_refusal():
    assert allowed.refusal(allowed.DEFAULT, "platform.tap.io/v1alpha1", "TapPlatform") == ""
    listed = allowed.parse(kinds(DB_INSTANCE))
    assert allowed.refusal(listed, "rds.services.k8s.aws/v1alpha1", "DBInstance") == ""


def test_a_supported_kind_left_out_is_refused_naming_the_key_and_the_chart_value():
    reason = allowed.refusal(allowed.DEFAULT, "rds.services.k8s.aws/v1alpha1", "DBInstance")
    assert reason == ("the target's kind rds.services.k8s.aws/v1alpha1 DBInstance is not allowed by the operator's "
                      "configuration: list it in targets.kinds (the chart value targets.kinds, which also grants "
                      "the operator patch on it)")
    assert allowed.refusal(allowed.parse(kinds(DB_INSTANCE)), *allowed.TAPPLATFORM).startswith(
        "the target's kind platform.tap.io/v1alpha1 TapPlatform is not allowed")


@pytest.mark.parametrize(("api_version", "kind"), [("v1", "ConfigMap"), ("rds.services.k8s.aws/v1beta1", "DBInstance"),
                                                   ("ec2.services.k8s.aws/v1alpha1", "LaunchTemplate")])
def test_a_kind_no_adapter_changes_is_refused_listing_the_supported_ones(api_version, kind):
    reason = allowed.refusal(frozenset(allowed.supported()), api_version, kind)
    assert reason.startswith(f"the target's kind {api_version} {kind} is not one the operator can change; "
                             "supported: platform.tap.io/v1alpha1 TapPlatform, ")
    assert "\n" not in reason and ". " not in reason, "one sentence"


def write(tmp_path, document) -> dict[str, str]:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(document))
    return {configuration.CONFIG_ENV: str(path)}


def test_the_operator_reads_the_kinds_from_its_configuration_file(tmp_path):
    assert configuration.load_target_kinds({}) == allowed.DEFAULT
    environ = write(tmp_path, {"namespace": "ops", **kinds(TAPPLATFORM, TABLE)})
    assert configuration.load_target_kinds(environ) == {allowed.TAPPLATFORM, ("dynamodb.services.k8s.aws/v1alpha1",
                                                                              "Table")}
    assert configuration.load_gate_config(environ).namespace == "ops", "the gates accept the targets section"


def test_a_wrong_kind_in_the_file_names_the_file_and_the_key(tmp_path):
    environ = write(tmp_path, kinds(TAPPLATFORM, {"apiVersion": "v1", "kind": "Secret"}))
    with pytest.raises(ConfigError) as raised:
        configuration.load_target_kinds(environ)
    assert str(raised.value).startswith(f"{environ[configuration.CONFIG_ENV]}: targets.kinds[1].apiVersion: v1 Secret ")


def test_the_operator_does_not_start_with_a_wrong_kind(tmp_path, monkeypatch, capsys):
    environ = write(tmp_path, kinds({"apiVersion": "rds.services.k8s.aws/v1alpha1", "kind": "DBProxy"}))
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "none"))  # were the file let through, no cluster to start on
    monkeypatch.setenv(configuration.CONFIG_ENV, "")  # `run --config` sets it for the operator: undone after
    assert main(["run", "--all-namespaces", "--config", environ[configuration.CONFIG_ENV]]) == EXIT_BAD_INPUT
    assert capsys.readouterr().err.startswith(
        f"error: --config: {environ[configuration.CONFIG_ENV]}: targets.kinds[0].kind: "
        "rds.services.k8s.aws/v1alpha1 DBProxy is not a kind the operator can change; supported: ")


@pytest.mark.parametrize(("document", "wanted"), [
    (None, "Await"), ({"targets": None}, "Await"), (kinds(TAPPLATFORM), "Await"),
    ({"targets": {"instanceRefresh": "Await"}}, "Await"), ({"targets": {"instanceRefresh": "Skip"}}, "Skip"),
    ({"targets": {**kinds(TABLE)["targets"], "instanceRefresh": "Skip"}}, "Skip"),
])
def test_an_instance_type_change_awaits_its_instance_refresh_unless_the_configuration_skips_it(document, wanted):
    assert allowed.instance_refresh(document) == wanted
    assert allowed.TAPPLATFORM in allowed.parse(document) or "kinds" in document["targets"], "kinds parse beside it"


@pytest.mark.parametrize("value", ["skip", "await", True, None, ["Skip"]])
def test_a_wrong_instance_refresh_is_refused_naming_the_key_and_the_values(tmp_path, value):
    environ = write(tmp_path, {"targets": {"instanceRefresh": value}})
    with pytest.raises(ConfigError) as raised:
        configuration.load_instance_refresh(environ)
    assert str(raised.value).startswith(f"{environ[configuration.CONFIG_ENV]}: targets.instanceRefresh: expected "
                                        f"Await or Skip, found {value!r}"), raised.value
    assert configuration.load_instance_refresh({}) == "Await"


def test_the_operator_will_not_start_with_a_wrong_instance_refresh(tmp_path, monkeypatch, capsys):
    environ = write(tmp_path, {"targets": {"instanceRefresh": "Sometimes"}})
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "none"))
    monkeypatch.setenv(configuration.CONFIG_ENV, environ[configuration.CONFIG_ENV])  # put back afterwards
    assert main(["run", "--all-namespaces", "--config", environ[configuration.CONFIG_ENV]]) == EXIT_BAD_INPUT
    assert "targets.instanceRefresh: expected Await or Skip, found 'Sometimes'" in capsys.readouterr().err
