"""A narrow view of Hubble's ``GetFlowsResponse``: the same wire format, decoding only what the
flow model reads.

``flow.Flow`` carries many fields learning never reads (emitter, ethernet, services, trace
context, interface, summary ...). This module builds, at import, a second copy of the flow
schema in a private descriptor pool where those fields are left out (the parser keeps them as
unknown bytes without decoding them) and where ``source``, ``destination`` and ``IP`` are plain
``bytes``: an endpoint, the biggest part of a flow (its full label set), then costs one copy
and serves directly as the key of the endpoint cache, and is decoded only the first time it is
seen (the addresses likewise). Field numbers and types are those of ``proto/flow/flow.proto``, so any message the full
schema reads, this one reads too.
"""

from __future__ import annotations

from typing import Any

from google.protobuf import (
    any_pb2,
    descriptor_pb2,
    descriptor_pool,
    message_factory,
    timestamp_pb2,
    wrappers_pb2,
)

from collectors._proto.flow import flow_pb2

__all__ = ["FLOW_FIELDS_READ", "NarrowFlow", "NarrowResponse"]

FLOW_FIELDS_READ = frozenset(
    {
        "time",
        "uuid",
        "verdict",
        "drop_reason",
        "IP",
        "l4",
        "source",
        "destination",
        "Type",
        "node_name",
        "destination_names",
        "l7",
        "reply",
        "event_type",
        "traffic_direction",
        "trace_reason",
        "drop_reason_desc",
        "is_reply",
        "debug_capture_point",
        "sock_xlate_point",
        "egress_allowed_by",
        "ingress_allowed_by",
        "egress_denied_by",
        "ingress_denied_by",
    }
)
"""The ``flow.Flow`` fields :mod:`collectors.hubble.proto` reads; the rest stay undecoded."""

_AS_BYTES = ("source", "destination", "IP")
"""Fields that repeat from flow to flow, kept serialised to be decoded once per distinct value."""
_RESPONSE = "NarrowResponse"
_Field = descriptor_pb2.FieldDescriptorProto


def _file_proto(module: Any) -> descriptor_pb2.FileDescriptorProto:
    return descriptor_pb2.FileDescriptorProto.FromString(module.DESCRIPTOR.serialized_pb)


def _narrowed_flow_file() -> descriptor_pb2.FileDescriptorProto:
    """flow.proto with ``Flow`` cut down to :data:`FLOW_FIELDS_READ`, plus a response message
    wire-compatible with ``observer.GetFlowsResponse``."""
    file = _file_proto(flow_pb2)
    (flow,) = [message for message in file.message_type if message.name == "Flow"]
    kept = [field for field in flow.field if field.name in FLOW_FIELDS_READ]
    if {field.name for field in kept} != FLOW_FIELDS_READ:
        raise RuntimeError("flow.proto lacks a field the narrow decoder reads")
    del flow.field[:]
    flow.field.extend(kept)
    flow.ClearField("oneof_decl")
    for field in flow.field:
        field.ClearField("oneof_index")
        if field.name in _AS_BYTES:
            # ``optional`` keeps an empty sub-message that was sent apart from one that was not,
            # as the message field did, so that serialising the response gives the same bytes.
            field.type = _Field.TYPE_BYTES
            field.ClearField("type_name")
            field.proto3_optional = True
            field.oneof_index = len(flow.oneof_decl)
            flow.oneof_decl.add(name=f"_{field.name}")
    flow.ClearField("reserved_range")
    response = file.message_type.add(name=_RESPONSE)
    response.oneof_decl.add(name="response_types")
    # observer.proto's GetFlowsResponse, field for field; a node status is decoded on demand.
    for name, number, kind, type_name, in_oneof in (
        ("flow", 1, _Field.TYPE_MESSAGE, ".flow.Flow", True),
        ("node_status", 2, _Field.TYPE_BYTES, "", True),
        ("lost_events", 3, _Field.TYPE_MESSAGE, ".flow.LostEvent", True),
        ("node_name", 1000, _Field.TYPE_STRING, "", False),
        ("time", 1001, _Field.TYPE_MESSAGE, ".google.protobuf.Timestamp", False),
    ):
        field = response.field.add(name=name, number=number, type=kind, label=_Field.LABEL_OPTIONAL)
        if type_name:
            field.type_name = type_name
        if in_oneof:
            field.oneof_index = 0
    return file


def _classes() -> tuple[Any, Any]:
    pool = descriptor_pool.DescriptorPool()
    for module in (any_pb2, timestamp_pb2, wrappers_pb2):
        pool.Add(_file_proto(module))
    pool.Add(_narrowed_flow_file())
    flow = message_factory.GetMessageClass(pool.FindMessageTypeByName("flow.Flow"))
    response = message_factory.GetMessageClass(pool.FindMessageTypeByName(f"flow.{_RESPONSE}"))
    return flow, response


NarrowFlow, NarrowResponse = _classes()
"""Message classes: ``NarrowResponse.FromString(wire bytes of a GetFlowsResponse)``."""
