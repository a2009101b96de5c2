"""The API's contract: strict request parsing with pydantic, and the OpenAPI 3 document built
from the same models, so the document can never drift from what the code accepts."""
from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any, Callable

from flask import Flask, current_app, request
from pydantic import BaseModel, ConfigDict, ValidationError

from services.errors import AccessDenied, QorgauError, ValidationFailed

# What an agency-system token needs to call an operation (``operation(..., scope=...)``): one of
# the scopes of services.auth.tokens.AGENCY_SCOPES, ANY_TOKEN for an operation every live token
# may call (who am I), or None, the default: only people call it, and a system token is refused.
ANY_TOKEN = "*"


class Strict(BaseModel):
    """Base for request bodies: unknown fields are refused, types are not coerced from strings."""

    model_config = ConfigDict(extra="forbid", strict=True, str_strip_whitespace=True)


class UnsupportedMediaType(QorgauError):
    status = 415
    slug = "unsupported-media-type"
    title = "Unsupported media type"


@dataclass
class Operation:
    summary: str
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    response: type[BaseModel] | None = None
    status: int = 200
    public: bool = False
    tags: tuple[str, ...] = ()
    errors: tuple[int, ...] = ()
    extra: dict = field(default_factory=dict)
    scope: str | None = None


_operations: dict[str, Operation] = {}


def _field_name(loc: tuple) -> str:
    return ".".join(str(part) for part in loc) or "body"


def validation_errors(exc: ValidationError) -> list[dict[str, str]]:
    """Pydantic errors as ``[{field, message}]``."""
    out = []
    for err in exc.errors():
        message = err["msg"]
        if err["type"] == "extra_forbidden":
            message = "Unknown field"
        out.append({"field": _field_name(err["loc"]), "message": message})
    return out


def raise_validation(exc: ValidationError) -> None:
    errors = validation_errors(exc)
    first = errors[0]
    raise ValidationFailed(f"{first['field']}: {first['message']}", field=first["field"],
                           errors=errors)


def parse_json(model: type[BaseModel]) -> BaseModel:
    """The request's JSON body validated by ``model``; 415/400/422 problems name what is wrong."""
    if request.mimetype != "application/json":
        raise UnsupportedMediaType("Send the body as application/json.", field="Content-Type")
    raw = request.get_data(cache=True)
    try:
        # JSON mode keeps strictness for numbers and booleans but reads ISO dates from strings.
        return model.model_validate_json(raw or b"")
    except ValidationError as exc:
        if any(e["type"] in ("json_invalid", "json_type") for e in exc.errors()):
            raise ValidationFailed("The body is not valid JSON.", field="body")
        if any(e["type"] == "model_type" and not e["loc"] for e in exc.errors()):
            raise ValidationFailed("The body must be a JSON object.", field="body")
        raise_validation(exc)


def parse_query(model: type[BaseModel]) -> BaseModel:
    """Query-string parameters validated by ``model`` (lax: values arrive as strings)."""
    try:
        return model.model_validate(request.args.to_dict(), strict=False)
    except ValidationError as exc:
        raise_validation(exc)


def operation(summary: str, *, body=None, query=None, response=None, status: int = 200,
              public: bool = False, tags: tuple[str, ...] = (), errors: tuple[int, ...] = (),
              scope: str | None = None):
    """Describe an API view and parse its input: the view receives ``body=`` / ``query=``.

    ``scope`` is what an agency-system token needs to call it (see ``ANY_TOKEN``); without one
    the operation is for people only. ``services.auth.current`` enforces it before the view runs.
    """
    if scope is not None and scope != ANY_TOKEN:
        from services.auth.tokens import AGENCY_SCOPES

        if scope not in AGENCY_SCOPES:
            raise ValueError(f"unknown agency-system scope {scope!r}")

    def decorate(view: Callable) -> Callable:
        @functools.wraps(view)
        def wrapper(*args, **kwargs):
            if body is not None:
                kwargs["body"] = parse_json(body)
            if query is not None:
                kwargs["query"] = parse_query(query)
            return view(*args, **kwargs)

        wrapper.qorgau_operation = Operation(summary, body, query, response, status, public,
                                             tags, errors, scope=scope)
        return wrapper

    return decorate


class ScopeMissing(AccessDenied):
    slug = "scope-missing"
    title = "The token's scopes do not allow this operation"


def operation_of(endpoint: str | None) -> Operation | None:
    """The ``operation`` of the view serving ``endpoint``, if it has one."""
    view = current_app.view_functions.get(endpoint) if endpoint else None
    return getattr(view, "qorgau_operation", None)


def scope_needed(op: Operation | None, path: str) -> tuple[bool, str | None]:
    """(may an agency-system token call it at all, the scope it needs). Routes under /api/v1
    without an ``operation`` are refused; the API's own documents (/api/openapi.json, /api/docs)
    and public operations carry no data and need no scope."""
    if op is None:
        return (not path.startswith("/api/v1"), None)
    if op.public or op.scope == ANY_TOKEN:
        return True, None
    return op.scope is not None, op.scope


def security_of(op: Operation) -> list[dict]:
    """The operation's OpenAPI security requirement: a person's bearer token, and an agency-system
    token with the scope it needs where systems may call it."""
    if op.public:
        return []
    if op.scope is None:
        return [{"bearer": []}]
    return [{"bearer": []}, {"agencySystem": [] if op.scope == ANY_TOKEN else [op.scope]}]


def _schema(model: type[BaseModel], components: dict) -> dict:
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    for name, definition in schema.pop("$defs", {}).items():
        components[name] = definition
    components[model.__name__] = schema
    return {"$ref": f"#/components/schemas/{model.__name__}"}


PROBLEM_SCHEMA = {
    "type": "object",
    "description": "RFC 9457 problem details",
    "properties": {
        "type": {"type": "string"}, "title": {"type": "string"}, "status": {"type": "integer"},
        "detail": {"type": "string"}, "instance": {"type": "string"},
        "field": {"type": "string", "description": "the offending field, when there is one"},
        "errors": {"type": "array", "items": {"type": "object", "properties": {
            "field": {"type": "string"}, "message": {"type": "string"}}}},
        "request_id": {"type": "string"},
        "required_scope": {"type": ["string", "null"],
                           "description": "403 to an agency-system token: the scope the operation "
                                          "needs (null: people only)"},
    },
    "required": ["type", "title", "status"],
}


def build_openapi(app: Flask) -> dict[str, Any]:
    """The OpenAPI 3.1 document for every route that carries an ``operation``."""
    components: dict[str, Any] = {"Problem": PROBLEM_SCHEMA}
    paths: dict[str, dict] = {}
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        view = app.view_functions.get(rule.endpoint)
        op: Operation | None = getattr(view, "qorgau_operation", None)
        if op is None:
            continue
        path = rule.rule
        parameters = []
        for arg in rule.arguments:
            path = path.replace(f"<int:{arg}>", f"{{{arg}}}").replace(f"<{arg}>", f"{{{arg}}}")
            parameters.append({"name": arg, "in": "path", "required": True,
                               "schema": {"type": "integer" if f"<int:{arg}>" in rule.rule else "string"}})
        if op.query is not None:
            for name, info in op.query.model_fields.items():
                parameters.append({"name": name, "in": "query", "required": info.is_required(),
                                   "description": info.description or "",
                                   "schema": {"type": "string"}})
        responses: dict[str, Any] = {}
        if op.response is not None:
            responses[str(op.status)] = {"description": "OK", "content": {
                "application/json": {"schema": _schema(op.response, components)}}}
        else:
            responses[str(op.status)] = {"description": "OK"}
        for code in sorted({400, 422, *op.errors} | (set() if op.public else {401, 403})):
            responses[str(code)] = {"description": "Problem", "content": {
                "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}}
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            item: dict[str, Any] = {
                "summary": op.summary,
                "operationId": f"{rule.endpoint}.{method.lower()}",
                "tags": list(op.tags),
                "parameters": parameters,
                "responses": responses,
            }
            item["security"] = security_of(op)
            if not op.public:
                item["x-agency-system-scope"] = "any" if op.scope == ANY_TOKEN else op.scope
            if op.body is not None and method in {"POST", "PUT", "PATCH"}:
                item["requestBody"] = {"required": True, "content": {
                    "application/json": {"schema": _schema(op.body, components)}}}
            paths.setdefault(path, {})[method.lower()] = item
    return {
        "openapi": "3.1.0",
        "info": {"title": "Qorgau API", "version": "1",
                 "description": "Inter-agency child-protection case coordination. "
                                "Errors are RFC 9457 problem details."},
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer",
                           "description": "a person's token (POST /api/v1/auth/token)"},
                "agencySystem": {"type": "http", "scheme": "bearer",
                                 "description": "an agency-system token (POST /api/v1/agencies/"
                                                "{id}/tokens); an operation lists the scope it "
                                                "needs, and refuses system tokens where it lists "
                                                "no agencySystem requirement"},
            },
        },
        "security": [{"bearer": []}],
    }
