"""The OpenAPI schema of the project's APIs (drf-spectacular), served to staff at /api/schema/.

apply-access and the device API read their bodies themselves (every failure must be answered in the contract's
envelope), so drf-spectacular cannot infer their bodies: this hook writes them, from the contract (apply-access,
interface 1) and docs/api/device-api.md. The fuzz tests (tests/test_security_fuzz.py) check the live
server against exactly this schema, so it cannot drift silently."""

from __future__ import annotations

from typing import Any

STRING = {"type": "string"}
NULLABLE_MS = {"type": ["integer", "null"], "description": "epoch milliseconds; null = long-term"}

APPLY_ACCESS_BODY = {
    "type": "object",
    "properties": {
        "address": STRING, "name": STRING, "idCard": STRING, "photo": STRING, "source": STRING, "type": STRING,
        "phone": STRING, "communityId": STRING, "ownerId": STRING, "ywlsh": STRING,
        "xbdm": {"type": ["integer", "string"]}, "visitTime": NULLABLE_MS, "effectiveVisitTime": NULLABLE_MS,
    },
    "required": ["address", "name", "idCard", "photo", "source", "type", "phone", "communityId", "ownerId", "ywlsh"],
}
ENVELOPE = {"type": "object", "properties": {"code": {"type": "integer", "enum": [0, 1]}, "message": STRING},
            "required": ["code", "message"]}
DETAIL = {"type": "object", "properties": {"detail": STRING}, "required": ["detail"]}

_EVENT_COMMON = {"time": STRING, "eventId": STRING}
EVENTS = {
    "pass-events": {"person": STRING, "direction": {"type": "string", "enum": ["in", "out"]}, "image": STRING,
                    "faceImage": STRING},
    "face-snapshots": {"passType": {"type": ["integer", "string"]}, "images": {"type": "array", "items": STRING},
                       "idNumber": STRING, "personName": STRING},
    "car-snapshots": {"plate": STRING, "plateType": {"type": ["integer", "string"]},
                      "passType": {"type": ["integer", "string"]}, "images": {"type": "array", "items": STRING}},
}
RESULT = {"type": "object", "properties": {
    "index": {"type": "integer"}, "status": {"type": "string", "enum": ["accepted", "refused"]}, "id": STRING,
    "field": STRING, "reason": STRING, "duplicate": {"type": "boolean"},
    "errors": {"type": "array", "items": {"type": "object"}}}, "required": ["index", "status"]}
RESULTS = {"type": "object", "properties": {"accepted": {"type": "integer"}, "refused": {"type": "integer"},
                                            "results": {"type": "array", "items": RESULT}},
           "required": ["accepted", "refused", "results"]}
FACES = {"type": "object", "properties": {"faces": {"type": "array", "items": {"type": "object"}},
                                          "removed": {"type": "array", "items": {"type": "object"}},
                                          "cursor": STRING, "more": {"type": "boolean"}},
         "required": ["faces", "removed", "cursor", "more"]}


def _json(schema: dict) -> dict:
    return {"content": {"application/json": {"schema": schema}}}


def _answers(ok: dict, errors: dict[str, dict]) -> dict:
    return {"200": {"description": "read", **_json(ok)},
            **{code: {"description": "refused", **_json(schema)} for code, schema in errors.items()}}


def _apply_access() -> dict:
    codes = ("400", "403", "405", "413", "415", "429", "500")
    return {"post": {
        "operationId": "apply_access", "tags": ["city"], "security": [{}],
        "summary": "The city pushes one person (interface 1); every answer is the contract's envelope.",
        "requestBody": {"required": True, **_json(APPLY_ACCESS_BODY)},
        "responses": _answers(ENVELOPE, dict.fromkeys(codes, ENVELOPE)),
    }}


def _events(kind: str) -> dict:
    event = {"type": "object", "properties": {**EVENTS[kind], **_EVENT_COMMON}}
    return {"post": {
        "operationId": f"devices_{kind.replace('-', '_')}", "tags": ["devices"], "security": [{"deviceKey": []}],
        "requestBody": {"required": True, **_json({"oneOf": [event, {"type": "array", "items": event}]})},
        "responses": _answers(RESULTS, dict.fromkeys(("400", "401", "403", "413", "415"), DETAIL)),
    }}


HAND_READ = ("/apply-access", "/api/v1/devices/")


def drop_hand_read_views(endpoints: list[tuple]) -> list[tuple]:
    """These views have no serializer to introspect: leave them to contract_schemas (no guessing, no warnings)."""
    return [endpoint for endpoint in endpoints if not endpoint[0].startswith(HAND_READ)]


def contract_schemas(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    paths = {path: item for path, item in result.get("paths", {}).items() if not path.startswith(HAND_READ)}
    paths["/apply-access"] = _apply_access()
    for kind in EVENTS:
        paths[f"/api/v1/devices/{kind}"] = _events(kind)
    paths["/api/v1/devices/faces"] = {"get": {
        "operationId": "devices_faces", "tags": ["devices"], "security": [{"deviceKey": []}],
        "parameters": [{"name": "since", "in": "query", "schema": STRING},
                       {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1}}],
        "responses": _answers(FACES, dict.fromkeys(("400", "401", "403", "410"), DETAIL)),
    }}
    paths["/api/v1/devices/faces/{id}/photo"] = {"get": {
        "operationId": "devices_face_photo", "tags": ["devices"], "security": [{"deviceKey": []}],
        "parameters": [{"name": "id", "in": "path", "required": True, "schema": {"type": "integer", "minimum": 0}}],
        "responses": {"200": {"description": "JPEG", "content": {"image/jpeg": {"schema": {"type": "string",
                                                                                          "format": "binary"}}}},
                      **{code: {"description": "refused", **_json(DETAIL)} for code in ("401", "403", "404")}},
    }}
    result["paths"] = paths
    result.setdefault("components", {})["securitySchemes"] = {
        "deviceKey": {"type": "apiKey", "in": "header", "name": "Authorization",
                      "description": "Token dk_<prefix>.<secret> (devices: see docs/api/device-api.md)"}}
    return result
