"""Request bodies in ``application/vnd.kubernetes.protobuf``, for the kinds clients send that way.

client-go's typed clients for built-in kinds may send protobuf (``kubectl auth can-i`` does for
SelfSubjectAccessReview and SelfSubjectRulesReview). The envelope is the magic ``k8s\\0`` and a
``runtime.Unknown`` (typeMeta 1 {apiVersion 1, kind 2}, raw 2); the raw bytes are the object in
the field numbers of k8s.io/api's generated.proto. Only the review kinds are decoded (their
fields are few and flat); anything else gets 415, as a server without that codec would answer.
Answers stay JSON, which these clients also accept.
"""

from __future__ import annotations

MAGIC = b"k8s\x00"
CONTENT_TYPE = "application/vnd.kubernetes.protobuf"


class DecodeError(ValueError):
    pass


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= len(data):
            raise DecodeError("truncated varint")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7
        if shift > 63:
            raise DecodeError("varint too long")


def fields(data: bytes) -> dict[int, list]:
    """field number -> values (ints for varints, bytes for length-delimited)."""
    out: dict[int, list] = {}
    pos = 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(data, pos)
        elif wire == 2:
            length, pos = _varint(data, pos)
            if pos + length > len(data):
                raise DecodeError("truncated field")
            value, pos = data[pos:pos + length], pos + length
        elif wire == 1:
            value, pos = data[pos:pos + 8], pos + 8
        elif wire == 5:
            value, pos = data[pos:pos + 4], pos + 4
        else:
            raise DecodeError(f"unsupported wire type {wire}")
        out.setdefault(number, []).append(value)
    return out


def _text(msg: dict[int, list], number: int) -> str:
    values = msg.get(number)
    return values[-1].decode() if values else ""


def _strings(msg: dict[int, list], number: int) -> list[str]:
    return [v.decode() for v in msg.get(number, [])]


def _attributes(raw: bytes, names: tuple[str, ...]) -> dict:
    msg = fields(raw)
    return {name: _text(msg, i + 1) for i, name in enumerate(names) if _text(msg, i + 1)}


_RESOURCE_ATTRS = ("namespace", "verb", "group", "version", "resource", "subresource", "name")


def _review_spec(kind: str, spec: dict[int, list]) -> dict:
    if kind == "SelfSubjectAccessReview":
        out = {}
        if spec.get(1):
            out["resourceAttributes"] = _attributes(spec[1][-1], _RESOURCE_ATTRS)
        if spec.get(2):
            out["nonResourceAttributes"] = _attributes(spec[2][-1], ("path", "verb"))
        return out
    if kind == "SelfSubjectRulesReview":
        return {"namespace": _text(spec, 1)} if _text(spec, 1) else {}
    if kind == "TokenReview":
        return {k: v for k, v in (("token", _text(spec, 1)), ("audiences", _strings(spec, 2))) if v}
    raise DecodeError(f"no protobuf decoding for {kind}")


def decode(body: bytes) -> dict:
    """The JSON form of a protobuf-encoded review; DecodeError for anything else."""
    if not body.startswith(MAGIC):
        raise DecodeError("missing the k8s protobuf envelope")
    unknown = fields(body[len(MAGIC):])
    type_meta = fields(unknown.get(1, [b""])[-1])
    api_version, kind = _text(type_meta, 1), _text(type_meta, 2)
    obj = fields(unknown.get(2, [b""])[-1])
    spec = fields(obj.get(2, [b""])[-1])
    return {"apiVersion": api_version, "kind": kind, "metadata": {}, "spec": _review_spec(kind, spec)}
