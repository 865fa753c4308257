"""The composition function's gRPC runner: thin glue between Crossplane and the pure renderers.

Shaped like crossplane/function-template-python: log with the request tag, start the response
from the request, render, report Normal or Fatal, return. All decisions live in render/.
"""

from __future__ import annotations

import grpc
from crossplane.function import logging, resource, response
from crossplane.function.proto.v1 import run_function_pb2 as fnv1
from crossplane.function.proto.v1 import run_function_pb2_grpc as grpcv1

from tap_optimizer.composition.render.platform import InvalidPlatformError, composite_status, render_platform


class TapPlatformRunner(grpcv1.FunctionRunnerServiceServicer):
    """Renders the desired managed resources of the observed TapPlatform."""

    def __init__(self) -> None:
        self.log = logging.get_logger()

    async def RunFunction(  # noqa: N802 (the gRPC method name)
        self, req: fnv1.RunFunctionRequest, _: grpc.aio.ServicerContext | None = None
    ) -> fnv1.RunFunctionResponse:
        xr = resource.struct_to_dict(req.observed.composite.resource)
        log = self.log.bind(tag=req.meta.tag, xr=(xr.get("metadata") or {}).get("name"))
        rsp = response.to(req)
        observed = {key: resource.struct_to_dict(r.resource) for key, r in req.observed.resources.items()}
        try:
            desired = render_platform(xr, observed)
        except InvalidPlatformError as invalid:
            log.info("refused TapPlatform", reason=str(invalid))
            response.fatal(rsp, f"invalid TapPlatform: {invalid}")
            return rsp
        for key, obj in desired.items():
            resource.update(rsp.desired.resources[key], obj)
        status = composite_status(observed)
        if status:
            resource.update(rsp.desired.composite, {"status": status})
        log.debug("rendered TapPlatform", resources=len(desired))
        return rsp
