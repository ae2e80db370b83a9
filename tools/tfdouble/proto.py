"""tfplugin6 message classes: the `tf` package's generated stubs, extended to protocol 6.8.

`tf==1.2.0` ships stubs for tfplugin6 **6.6**. Terraform 1.11 speaks 6.8, which adds (among
things Terraform only sends and we may ignore) ephemeral resources and write-only attributes.
Instead of vendoring a .proto and running protoc, we copy the stubs' own file descriptor, add
the missing fields/messages/RPCs with their official field numbers, and load the result into a
private descriptor pool (the default pool keeps the untouched stub file). Wire format is what
matters to Terraform, and it is identical to the upstream 6.8 definition for everything here.

Importing this module costs ~25 ms (descriptor pool + message classes); no grpc import.
"""

from __future__ import annotations

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory, timestamp_pb2
from tf.gen import tfplugin_pb2

_F = descriptor_pb2.FieldDescriptorProto

#: Name under which the extended file lives in our private pool.
FILE_NAME = "tools/tfdouble/tfplugin6_ext.proto"
PACKAGE = "tfplugin6"


def _find(parent, name: str) -> descriptor_pb2.DescriptorProto:
    """Nested message `name` (dotted path) under a FileDescriptorProto or DescriptorProto."""
    node = parent
    for part in name.split("."):
        pool = node.message_type if isinstance(node, descriptor_pb2.FileDescriptorProto) else node.nested_type
        node = next(m for m in pool if m.name == part)
    return node


def _field(msg, name: str, number: int, ftype: int, type_name: str | None = None, repeated: bool = False):
    f = msg.field.add(name=name, number=number, type=ftype)
    f.label = _F.LABEL_REPEATED if repeated else _F.LABEL_OPTIONAL
    if type_name:
        f.type_name = type_name
    return f


def _request_response(fdp, name: str, request: list[tuple], response: list[tuple]) -> None:
    """Add top-level message `name` with nested Request/Response built from (name, no, type, type_name, repeated)."""
    outer = fdp.message_type.add(name=name)
    for sub, fields in (("Request", request), ("Response", response)):
        m = outer.nested_type.add(name=sub)
        for fname, number, ftype, tname, rep in fields:
            _field(m, fname, number, ftype, tname, rep)


def _build_file() -> descriptor_pb2.FileDescriptorProto:
    fdp = descriptor_pb2.FileDescriptorProto()
    tfplugin_pb2.DESCRIPTOR.CopyToProto(fdp)
    fdp.name = FILE_NAME
    fdp.dependency.append(timestamp_pb2.DESCRIPTOR.name)

    # Schema.Attribute.write_only (6.8)
    _field(_find(fdp, "Schema.Attribute"), "write_only", 11, _F.TYPE_BOOL)

    # GetProviderSchema.Response.ephemeral_resource_schemas (map<string, Schema> = 8)
    resp = _find(fdp, "GetProviderSchema.Response")
    entry = resp.nested_type.add(name="EphemeralResourceSchemasEntry")
    entry.options.map_entry = True
    _field(entry, "key", 1, _F.TYPE_STRING)
    _field(entry, "value", 2, _F.TYPE_MESSAGE, ".tfplugin6.Schema")
    _field(resp, "ephemeral_resource_schemas", 8, _F.TYPE_MESSAGE,
           ".tfplugin6.GetProviderSchema.Response.EphemeralResourceSchemasEntry", repeated=True)

    # GetMetadata.Response.ephemeral_resources (= 6)
    meta = _find(fdp, "GetMetadata")
    em = meta.nested_type.add(name="EphemeralMetadata")
    _field(em, "type_name", 1, _F.TYPE_STRING)
    _field(_find(meta, "Response"), "ephemeral_resources", 6, _F.TYPE_MESSAGE,
           ".tfplugin6.GetMetadata.EphemeralMetadata", repeated=True)

    dv, diag, ts = ".tfplugin6.DynamicValue", ".tfplugin6.Diagnostic", ".google.protobuf.Timestamp"
    S, M, B = _F.TYPE_STRING, _F.TYPE_MESSAGE, _F.TYPE_BYTES
    _request_response(fdp, "ValidateEphemeralResourceConfig",
                      [("type_name", 1, S, None, False), ("config", 2, M, dv, False)],
                      [("diagnostics", 1, M, diag, True)])
    _request_response(fdp, "OpenEphemeralResource",
                      [("type_name", 1, S, None, False), ("config", 2, M, dv, False)],
                      [("diagnostics", 1, M, diag, True), ("renew_at", 2, M, ts, False),
                       ("result", 3, M, dv, False), ("private", 4, B, None, False)])
    _request_response(fdp, "RenewEphemeralResource",
                      [("type_name", 1, S, None, False), ("private", 2, B, None, False)],
                      [("diagnostics", 1, M, diag, True), ("renew_at", 2, M, ts, False),
                       ("private", 3, B, None, False)])
    _request_response(fdp, "CloseEphemeralResource",
                      [("type_name", 1, S, None, False), ("private", 2, B, None, False)],
                      [("diagnostics", 1, M, diag, True)])

    service = next(s for s in fdp.service if s.name == "Provider")
    for rpc in ("ValidateEphemeralResourceConfig", "OpenEphemeralResource",
                "RenewEphemeralResource", "CloseEphemeralResource"):
        service.method.add(name=rpc, input_type=f".tfplugin6.{rpc}.Request",
                           output_type=f".tfplugin6.{rpc}.Response")
    return fdp


_pool = descriptor_pool.DescriptorPool()
_pool.AddSerializedFile(timestamp_pb2.DESCRIPTOR.serialized_pb)
_pool.Add(_build_file())

#: Service descriptor of the extended `tfplugin6.Provider` (method names, input/output types).
PROVIDER_SERVICE = _pool.FindServiceByName(f"{PACKAGE}.Provider")


def message(name: str):
    """Message class for `name` relative to the tfplugin6 package, e.g. message("Schema.Attribute")."""
    return message_factory.GetMessageClass(_pool.FindMessageTypeByName(f"{PACKAGE}.{name}"))


DynamicValue = message("DynamicValue")
Diagnostic = message("Diagnostic")
AttributePath = message("AttributePath")
Schema = message("Schema")
ServerCapabilities = message("ServerCapabilities")
GetProviderSchemaResponse = message("GetProviderSchema.Response")
