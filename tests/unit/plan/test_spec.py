"""OptimizationPlan specs are refused at the door with a message naming the field."""

from __future__ import annotations

import copy

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tap_optimizer.plan.durations import seconds
from tap_optimizer.plan.spec import CloudWatchSource, crd, parse, spec_errors
from tap_optimizer_local import alb_metrics
from tests.support.crds import crd_entries, object_errors
from tests.support.plans import three_phase_spec


def test_the_crd_is_a_valid_custom_resource_definition_with_printer_columns():
    body = crd()
    assert body["spec"]["names"]["shortNames"] == ["optplan"]
    (version,) = body["spec"]["versions"]
    assert version["subresources"] == {"status": {}}
    assert "Reason" in [c["name"] for c in version["additionalPrinterColumns"]]


def test_an_example_plan_validates_as_an_object():
    plan = {"apiVersion": "optimization.tap.io/v1alpha1", "kind": "OptimizationPlan",
            "metadata": {"name": "p"}, "spec": three_phase_spec()}
    assert object_errors(plan, crd_entries(crd())) == []
    assert spec_errors(three_phase_spec()) == []


def with_change(**change) -> dict:
    spec = three_phase_spec()
    spec["phases"][0]["changes"][0] = change
    return spec


@pytest.mark.parametrize(
    ("spec", "wanted"),
    [
        (with_change(op="replace", path="/metadata/name", value="x"),
         "spec.phases[0].changes[0].path: '/metadata/name' does not match"),
        (with_change(op="move", path="/spec/parameters/region", value="x"),
         "spec.phases[0].changes[0].op: 'move' is not allowed; allowed values: 'add', 'replace', 'remove'"),
        (with_change(op="replace", path="/spec/parameters/compute/instancetype", value="m5.large"),
         "/spec/parameters/compute/instancetype is not a TapPlatform parameter; allowed here: desiredCapacity"),
        (with_change(op="replace", path="/spec/parameters/database/readerCount", value="1"),
         "spec.phases[0].changes[0].value: '1' is not of type 'integer'"),
        (with_change(op="replace", path="/spec/parameters/database/readerCount"), "add and replace need a value"),
        (with_change(op="remove", path="/spec/parameters/tables/users"), "only entries of a map"),
        (with_change(op="remove", path="/spec/parameters/compute/minSize"), "only entries of a map"),
        (with_change(op="replace", path="/spec/parameters/database/secondaryRegions/0", value={}),
         "goes into a list; replace the whole list instead"),
        ({**three_phase_spec(), "phases": [{"name": "a", "changes": [{"op": "remove", "path":
          "/spec/parameters/tables/users/globalSecondaryIndexes/ByRole"}]}] * 2}, "phase names must be unique"),
        ({**three_phase_spec(), "applyTimeout": "ten minutes"}, "spec.applyTimeout: 'ten minutes' does not match"),
        ({**three_phase_spec(), "targetRef": {"name": "x", "kind": "Database"}},
         "spec.targetRef.kind: platform.tap.io/v1alpha1 Database is not a kind a plan may target; supported: "
         "platform.tap.io/v1alpha1 TapPlatform; "),
        ({k: v for k, v in three_phase_spec().items() if k != "gates"}, "'gates' is a required field"),
        (with_change(op="replace", path="/spec/parameters/managementMode", value="ObserveOnly"),
         "/spec/parameters/managementMode says which AWS resources the platform is and whether Crossplane may change "
         "them, which no plan changes"),
        (with_change(op="remove", path="/spec/parameters/externalNames/database-cluster"),
         "/spec/parameters/externalNames/database-cluster says which AWS resources"),
    ],
    ids=["paths stay under /spec/parameters", "ops are add, replace or remove", "a typo names the allowed fields",
         "values are checked against the parameter's schema", "replace needs a value",
         "a whole table is never removed", "a declared parameter is replaced, not removed",
         "lists are replaced whole", "phase names are unique", "durations are durations",
         "the target is a supported kind", "gates are required", "no plan switches the management mode",
         "no plan re-points an adopted resource"],
)
def test_bad_specs_are_refused_naming_the_field(spec, wanted):
    messages = [str(e) for e in spec_errors(spec)]
    assert any(wanted in m for m in messages), messages


def test_gate_bounds_and_windows_are_checked():
    spec = three_phase_spec()
    spec["gates"]["metrics"] = [{"name": "p99", "query": "q"}]
    assert "needs at least one bound" in str(spec_errors(spec))
    spec = three_phase_spec()
    spec["gates"]["interval"] = "1h"
    assert [str(e) for e in spec_errors(spec)] == [
        "spec.gates.interval: observationWindow must hold at least 3 checks: at most observationWindow / 3"]


@pytest.mark.parametrize(("gates", "wanted"), [
    pytest.param({"interval": "0s"}, "spec.gates.interval: must be longer than 0", id="a zero interval (0/0 once)"),
    pytest.param({"interval": "0ms", "observationWindow": "0s"}, "spec.gates.interval: must be longer than 0",
                 id="zero everything"),
    pytest.param({"interval": "48h", "observationWindow": "48h"}, "at least 3 checks", id="one check a window"),
    pytest.param({"interval": "5m", "observationWindow": "48h"}, "576 checks; at most 400", id="too many checks"),
    pytest.param({"baselineWindow": "0s"}, "spec.gates.baselineWindow: must be longer than 0", id="no baseline window"),
])
def test_windows_need_real_durations_and_several_checks(gates, wanted):
    spec = three_phase_spec()
    spec["gates"].update(gates)
    assert wanted in "; ".join(map(str, spec_errors(spec)))


@pytest.mark.parametrize(("text", "wanted"), [("15m", 900), ("1h30m", 5400), ("2d", 172800), ("500ms", 0.5)])
def test_durations(text, wanted):
    assert seconds(text) == wanted


@pytest.mark.parametrize("text", ["", "15", "m", "1.5h", "1h 30m", "-1s"])
def test_bad_durations_name_what_is_allowed(text):
    with pytest.raises(ValueError, match="is not a duration such as 30s"):
        seconds(text)


def test_parse_reads_defaults():
    spec = parse(three_phase_spec())
    assert spec.gates.inconclusive_limit == 3 and spec.gates.on_inconclusive == "RollBack"
    assert spec.apply_timeout == 1800 and spec.phases[0].projected_monthly_savings == 41.2


JUNK = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 10**9) | st.floats(allow_nan=True) | st.text(max_size=10),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=10), children, max_size=3),
    max_leaves=10,
)


def mutate(spec: dict, path: list, value) -> dict:
    out = copy.deepcopy(spec)
    node = out
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return out


PLACES = [["targetRef"], ["targetRef", "name"], ["gates"], ["gates", "interval"], ["gates", "metrics"],
          ["gates", "metrics", 0, "max"], ["gates", "metrics", 0], ["phases"], ["phases", 0],
          ["phases", 0, "changes"], ["phases", 0, "changes", 0, "path"], ["phases", 0, "changes", 0, "op"],
          ["phases", 1, "changes", 0, "value"], ["dryRun"], ["applyTimeout"], ["gates", "inconclusiveLimit"]]


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(PLACES), JUNK)
def test_malformed_plans_get_a_message_naming_a_field_never_a_crash(place, junk):
    errors = spec_errors(mutate(three_phase_spec(), place, junk))
    assert all(str(e).startswith("spec.") for e in errors), errors
    if not errors:
        parse(mutate(three_phase_spec(), place, junk))  # accepted specs can be read


@settings(max_examples=100, deadline=None)
@given(JUNK)
def test_any_value_at_all_as_a_spec_gets_a_message(junk):
    errors = spec_errors(junk)
    assert errors and all(str(e).startswith("spec") for e in errors)


def _fields(schema: dict, path: str):
    for key, sub in (schema.get("properties") or {}).items():
        yield f"{path}.{key}", sub
        yield from _fields(sub, f"{path}.{key}")
    if isinstance(schema.get("items"), dict):
        yield from _fields(schema["items"], path + "[]")


def test_every_field_has_a_description_for_kubectl_explain():
    schema = crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    assert [path for path, sub in _fields(schema, "") if not sub.get("description")] == []


def test_a_plan_may_leave_its_endpoint_to_the_operator():
    spec = three_phase_spec()
    del spec["gates"]["prometheus"]
    spec["gates"]["endpoint"] = "main"
    assert spec_errors(spec) == [], "gates/endpoints.py resolves the endpoint"
    assert parse(three_phase_spec()).gates.timeout == 10, "without a timeout, the default one"


def cloudwatch_spec(**gate_overrides) -> dict:
    spec = three_phase_spec(gates=alb_metrics.gates(period="60s", baselineWindow="1h"))
    spec["gates"].update(gate_overrides)
    return spec


def test_a_cloudwatch_plan_reads_its_period_and_queries_and_the_region_its_endpoint_fills():
    spec = cloudwatch_spec()
    plan = {"apiVersion": "optimization.tap.io/v1alpha1", "kind": "OptimizationPlan", "metadata": {"name": "p"},
            "spec": spec}
    assert object_errors(plan, crd_entries(crd())) == [] and spec_errors(spec) == []
    gates = parse({**spec, "gates": {**spec["gates"], "cloudwatch": {"period": "60s", "region": "eu-west-1"}}}).gates
    assert gates.cloudwatch == CloudWatchSource("eu-west-1", 60) and gates.prometheus_url == ""
    error_rate = gates.metrics[0]
    assert error_rate.cloudwatch is not None and error_rate.cloudwatch.series_ids == ("ratio",)
    assert error_rate.cloudwatch.volume == ("requests",) and error_rate.min_volume == 10
    assert error_rate.query.startswith("ratio = errors / requests; errors = Sum(AWS/ApplicationELB "
                                       "HTTPCode_Target_5XX_Count{LoadBalancer=")
    assert error_rate.volume_query.startswith("requests = Sum(AWS/ApplicationELB RequestCount")
    metrics_only = cloudwatch_spec()
    del metrics_only["gates"]["cloudwatch"]
    assert parse(metrics_only).gates.cloudwatch == CloudWatchSource("", 60), "CloudWatch queries make it so"


def _metric(spec: dict, index: int = 0) -> dict:
    return spec["gates"]["metrics"][index]


def _refusals(spec: dict) -> list[str]:
    return [str(e) for e in spec_errors(spec)]


def test_a_plan_gates_on_one_provider_refused_naming_the_field():
    both = cloudwatch_spec(prometheus={"url": "http://prometheus:9090"})
    assert _refusals(both) == ["spec.gates.prometheus.url: a plan gates on one provider: this one's metrics are "
                               "CloudWatch queries; remove the Prometheus settings"]
    promql = cloudwatch_spec()
    promql["gates"]["metrics"].append({"name": "promql", "query": "up", "max": 1})
    assert _refusals(promql) == ["spec.gates.metrics[2].query: PromQL, but this plan's metrics are CloudWatch "
                                 "queries: state every metric as cloudwatch queries"]
    settings_only = three_phase_spec()
    settings_only["gates"]["cloudwatch"] = {"period": "60s"}
    assert any(r.startswith("spec.gates.metrics[0].query: PromQL") for r in _refusals(settings_only))


@pytest.mark.parametrize(("change", "wanted"), [
    (lambda s: _metric(s)["cloudwatch"].update(volume=["nowhere"]),
     "spec.gates.metrics[0].cloudwatch.volume[0]: 'nowhere' names no query; the ids are errors, requests, ratio"),
    (lambda s: _metric(s)["cloudwatch"]["queries"][2].update(returnData=False),
     "spec.gates.metrics[0].cloudwatch.queries: no query returns a series"),
    (lambda s: s["gates"]["cloudwatch"].update(period="90s"),
     "spec.gates.cloudwatch.period: 90s is no CloudWatch period: 1s, 5s, 10s, 30s or a multiple of 60s"),
    (lambda s: s["gates"].update(baselineWindow="30s"),
     "spec.gates.baselineWindow: must be at least spec.gates.cloudwatch.period"),
    (lambda s: _metric(s).update(volumeQuery="sum(x)"), "spec.gates.metrics[0].volumeQuery: PromQL"),
    (lambda s: _metric(s).pop("minVolume"), "volumeQuery (or cloudwatch.volume) and minVolume go together"),
    (lambda s: _metric(s).update(query="up"), "a gate metric has one query: PromQL (query) or CloudWatch"),
    (lambda s: _metric(s)["cloudwatch"]["queries"][0].update(expression="1"),
     "a CloudWatch query is either a metricStat or an expression"),
    (lambda s: _metric(s)["cloudwatch"]["queries"][0].update(id="Errors"), "queries[0].id: 'Errors' does not match"),
    (lambda s: s["gates"]["cloudwatch"].update(region="mars"), "spec.gates.cloudwatch.region: 'mars' does not match"),
], ids=["unknown volume id", "no series", "bad period", "baseline shorter than a period", "PromQL volume",
        "volume without minVolume", "query and cloudwatch", "stat and expression", "bad id", "bad region"])
def test_an_inconsistent_cloudwatch_metric_is_refused_naming_the_field(change, wanted):
    spec = cloudwatch_spec()
    change(spec)
    assert any(wanted in refusal for refusal in _refusals(spec)), _refusals(spec)


def test_prometheus_plans_are_unchanged_by_the_cloudwatch_form():
    spec = three_phase_spec()
    gates = parse(spec).gates
    assert gates.cloudwatch is None and gates.metrics[0].cloudwatch is None and gates.metrics[0].query == "q"
    del spec["gates"]["metrics"][0]["query"]
    assert any("a gate metric has one query" in r for r in _refusals(spec))


def test_a_backtest_of_a_query_pinned_to_the_range_is_refused_naming_the_query():
    body = three_phase_spec()
    body["gates"]["metrics"][0]["query"] = "sum(rate(x[5m] @ start()))"
    body["gates"]["backtest"] = {"days": 7, "maxFalseRollbackRate": 0.05}
    assert [str(e) for e in spec_errors(body)] == [
        "spec.gates.metrics[error-rate].query: uses `@ start()`, which a replay evaluates at its range's start, "
        "not at each check: backtest the query without the modifier"]
    del body["gates"]["backtest"]
    assert spec_errors(body) == []  # live, an instant query's @ start() is its evaluation time
