"""The composition function served over gRPC, as Crossplane calls it, answers exactly like the
in-process runner, and refuses invalid input with a Fatal result naming the field."""

from __future__ import annotations

import grpc
import pytest
from crossplane.function import resource
from crossplane.function.proto.v1 import run_function_pb2 as fnv1
from crossplane.function.proto.v1 import run_function_pb2_grpc as grpcv1

from tap_optimizer.composition.fn import TapPlatformRunner
from tap_optimizer.composition.render.platform import render_platform
from tap_optimizer_local.processes import free_port, tap_optimizer
from tests.support.platforms import example, with_parameters


def request(xr: dict, tag: str = "test") -> fnv1.RunFunctionRequest:
    return fnv1.RunFunctionRequest(
        meta=fnv1.RequestMeta(tag=tag),
        observed=fnv1.State(composite=fnv1.Resource(resource=resource.dict_to_struct(xr))),
    )


@pytest.fixture(scope="module")
def stub():
    port = free_port()
    with tap_optimizer("function", "--insecure", "--address", f"127.0.0.1:{port}", port=port), \
            grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        yield grpcv1.FunctionRunnerServiceStub(channel)


def desired(rsp: fnv1.RunFunctionResponse) -> dict[str, dict]:
    return {key: resource.struct_to_dict(r.resource) for key, r in rsp.desired.resources.items()}


@pytest.mark.parametrize("name", ["tap-prod", "tap-small"])
async def test_grpc_answers_like_the_in_process_runner(stub, name):
    req = request(example(name), tag=name)
    over_grpc = stub.RunFunction(req, timeout=30)
    in_process = await TapPlatformRunner().RunFunction(req)
    assert over_grpc == in_process
    assert over_grpc.meta.tag == name
    assert [r.severity for r in over_grpc.results] == []
    assert set(desired(over_grpc)) == set(render_platform(example(name)))


async def test_integers_survive_the_protobuf_round_trip(stub):
    rsp = stub.RunFunction(request(example("tap-small")), timeout=30)
    spec = desired(rsp)["compute-asg"]["spec"]
    assert (spec["forProvider"]["minSize"], spec["initProvider"]["desiredCapacity"], spec["forProvider"]["maxSize"]) \
        == (2, 2, 4)
    assert "database-reader-0" in desired(rsp) and "database-reader-1" not in desired(rsp)


def test_invalid_parameters_give_a_fatal_result_naming_the_field(stub):
    xr = with_parameters(example("tap-small"), compute__minSize=3, compute__maxSize=2)
    rsp = stub.RunFunction(request(xr), timeout=30)
    assert [r.severity for r in rsp.results] == [fnv1.SEVERITY_FATAL]
    assert "spec.parameters.compute: compute requires minSize <= desiredCapacity <= maxSize" in rsp.results[0].message
    assert len(rsp.desired.resources) == 0


def test_observed_endpoints_reach_the_composite_status(stub):
    req = request(example("tap-small"))
    observed = {"database-cluster": {"endpoint": "w.example", "readerEndpoint": "r.example"},
                "lb-alb": {"dnsName": "alb.example"}}
    for key, at_provider in observed.items():
        req.observed.resources[key].resource.update({"status": {"atProvider": at_provider}})
    rsp = stub.RunFunction(req, timeout=30)
    assert resource.struct_to_dict(rsp.desired.composite.resource) == {"status": {
        "writerEndpoint": "w.example", "readerEndpoint": "r.example", "loadBalancerDnsName": "alb.example"}}


def test_no_observed_endpoints_leave_the_composite_untouched(stub):
    rsp = stub.RunFunction(request(example("tap-small")), timeout=30)
    assert not rsp.desired.composite.HasField("resource")
