"""API errors as the real server shapes them: a ``Status`` object with reason, code and details.

``ApiError`` is internal to the emulator: the server turns it into an HTTP answer, and the official
client turns that into ``ApiException``. Messages follow the real apiserver's wording, because
runbooks match on them.
"""

from __future__ import annotations

import json
from typing import Any

from .resources import Resource

REQUEST_LIMIT = 3 * 1024 * 1024  # the real apiserver's body limit for JSON/YAML requests
# Go's encoding/json escapes these inside strings (HTML safety, JS line separators); Python doesn't.
_GO_ESCAPES = str.maketrans({"<": "\\u003c", ">": "\\u003e", "&": "\\u0026",
                             "\u2028": "\\u2028", "\u2029": "\\u2029"})


def go_json(obj: object) -> str:
    """JSON as Go's json.Marshal writes it: compact, UTF-8 unescaped, <>& and U+2028/9 escaped.
    (The characters translated only ever occur inside strings.)"""
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).translate(_GO_ESCAPES)


def encode(obj: object) -> bytes:
    """A response body as the apiserver's JSON serializer writes it (json.Encoder: a newline ends it)."""
    return (go_json(obj) + "\n").encode()


class ApiError(Exception):
    def __init__(self, code: int, reason: str, message: str, details: dict | None = None):
        super().__init__(message)
        self.code, self.reason, self.message, self.details = code, reason, message, details

    def body(self) -> dict[str, Any]:
        # metav1.Status's field order: kind, apiVersion, metadata, status, message, reason, details, code
        body: dict[str, Any] = {"kind": "Status", "apiVersion": "v1", "metadata": {},
                                "status": "Failure", "message": self.message, "reason": self.reason}
        if self.details is not None:
            body["details"] = self.details
        body["code"] = self.code
        return body


def details(name: str, group: str, kind: str, uid: str | None = None, causes: list[dict] | None = None) -> dict:
    """metav1.StatusDetails in its field order (name, group, kind, uid, causes); empty ones left out."""
    out: dict[str, Any] = {}
    for key, value in (("name", name), ("group", group), ("kind", kind), ("uid", uid), ("causes", causes)):
        if value:
            out[key] = value
    return out


def _details(res: Resource, name: str) -> dict:
    return details(name, res.group, res.plural)


def not_found(res: Resource, name: str) -> ApiError:
    return ApiError(404, "NotFound", f'{res.qualified} "{name}" not found', _details(res, name))


def already_exists(res: Resource, name: str) -> ApiError:
    return ApiError(409, "AlreadyExists", f'{res.qualified} "{name}" already exists',
                    _details(res, name))


def conflict(res: Resource, name: str) -> ApiError:
    return ApiError(409, "Conflict",
                    f'Operation cannot be fulfilled on {res.qualified} "{name}": the object has '
                    "been modified; please apply your changes to the latest version and try again",
                    _details(res, name))


def invalid(res: Resource, name: str, causes: list[dict]) -> ApiError:
    """422 with one cause per field; the message lists them as the real server does."""
    listed = ", ".join(f"{c['field']}: {c['message']}" if c.get("field") else c["message"]
                       for c in causes)
    if len(causes) > 1:
        listed = f"[{listed}]"
    # NewInvalid names the qualified kind (schema.GroupKind.String(): "CronJob.batch", "Pod").
    kind = f"{res.kind}.{res.group}" if res.group else res.kind
    return ApiError(422, "Invalid", f'{kind} "{name}" is invalid: {listed}',
                    details(name, res.group, res.kind, causes=causes))


def cause(field: str, message: str, reason: str = "FieldValueInvalid") -> dict:
    # metav1.StatusCause's order: reason, message, field
    return {"reason": reason, "message": message, "field": field}


def bad_request(message: str) -> ApiError:
    return ApiError(400, "BadRequest", message)


def gone(message: str) -> ApiError:
    return ApiError(410, "Expired", message)


def unauthorized() -> ApiError:
    return ApiError(401, "Unauthorized", "Unauthorized")


def page_not_found() -> ApiError:
    # What the real server answers for a path it does not serve at all.
    return ApiError(404, "NotFound", "the server could not find the requested resource")


def method_not_allowed(verb: str, res: Resource) -> ApiError:
    return ApiError(405, "MethodNotAllowed",
                    f"the server does not allow this method on the requested resource ({verb} {res.qualified})")


def too_large() -> ApiError:
    return ApiError(413, "RequestEntityTooLarge",
                    f"Request entity too large: limit is {REQUEST_LIMIT}")


def unsupported_media(content_type: str) -> ApiError:
    return ApiError(415, "UnsupportedMediaType",
                    f'the body of the request was in an unknown format - accepted media types include: '
                    f'application/json-patch+json, application/merge-patch+json, '
                    f'application/apply-patch+yaml, application/strategic-merge-patch+json '
                    f'(got "{content_type}")')


def unavailable(message: str) -> ApiError:
    return ApiError(503, "ServiceUnavailable", message)


def forbidden(message: str) -> ApiError:
    return ApiError(403, "Forbidden", message)
