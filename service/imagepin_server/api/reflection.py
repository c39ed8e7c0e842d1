"""Server reflection that also answers for method names.

grpcurl asks for "the file containing imagepin.v1.ResolverService.ResolveReference" when a person
runs `grpcurl … describe <service>.<method>`. Python's descriptor pool indexes services and
messages but not methods, so the stock servicer says "not found"; grpc-go answers. We answer
with the file of the method's service.
"""

from __future__ import annotations

from typing import Any

from google.protobuf import descriptor_pool
from grpc_reflection.v1alpha import _async as reflection_aio
from grpc_reflection.v1alpha import reflection, reflection_pb2_grpc

SERVICE_NAME = reflection.SERVICE_NAME


class MethodAwareReflectionServicer(reflection_aio.ReflectionServicer):
    def _file_containing_symbol(self, request: Any, fully_qualified_name: str) -> Any:
        service_name, _, method = fully_qualified_name.rpartition(".")
        try:
            service = descriptor_pool.Default().FindServiceByName(service_name)
        except KeyError:
            service = None
        if service is not None and method in service.methods_by_name:
            fully_qualified_name = service.full_name
        return super()._file_containing_symbol(request, fully_qualified_name)  # type: ignore[misc]


def enable(service_names: tuple[str, ...], server: Any) -> None:
    """Serve reflection for `service_names` on an aio server."""
    reflection_pb2_grpc.add_ServerReflectionServicer_to_server(  # type: ignore[no-untyped-call]
        MethodAwareReflectionServicer(service_names), server
    )
