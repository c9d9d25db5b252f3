"""The ``/docs`` page: the OpenAPI schema rendered as one self-contained HTML page.

FastAPI's own ``/docs`` and ``/redoc`` pages load their scripts and styles from a CDN, so they show
nothing offline and let a third party run script next to the API. This page is rendered on the
server from ``app.openapi()``: plain HTML with an inline style, no script at all.
"""

from __future__ import annotations

import html
import json
from typing import Any

#: for HTML pages: scripts and styles only from the page itself, requests only to this server
CONTENT_SECURITY_POLICY = ("default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
                           "connect-src 'self'; img-src 'self' data:; form-action 'self'; base-uri 'none'; "
                           "frame-ancestors 'none'")

_STYLE = """body{font-family:system-ui,sans-serif;max-width:960px;margin:2rem auto;padding:0 1rem;color:#1b1b1b}
h2{margin-top:2rem;font-size:1.15rem}code{background:#f3f3f3;padding:0 .2rem}
table{border-collapse:collapse;width:100%;font-size:.9rem}td,th{border:1px solid #ddd;padding:.3rem;text-align:left;
vertical-align:top}th{background:#f6f6f6}.method{font-weight:700;text-transform:uppercase}"""

_CONSTRAINTS = ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "minLength", "maxLength",
                "minItems", "maxItems")


def render_api_page(schema: dict[str, Any]) -> str:
    """The HTML reference of an OpenAPI schema: one section per operation, one table row per field.

    Args:
        schema: an OpenAPI 3 document (``app.openapi()``).

    Returns:
        A complete HTML page (every value from the schema escaped).
    """
    info = schema.get("info", {})
    components = schema.get("components", {}).get("schemas", {})
    parts = [f"<h1>{_e(info.get('title', 'API'))} {_e(info.get('version', ''))}</h1>",
             f"<p>{_e(info.get('description', ''))}</p>",
             "<p>The machine-readable schema is at <a href=\"openapi.json\">openapi.json</a>.</p>"]
    for path, methods in schema.get("paths", {}).items():
        for method, op in methods.items():
            parts.append(f"<h2><span class=\"method\">{_e(method)}</span> <code>{_e(path)}</code></h2>")
            if op.get("summary") or op.get("description"):
                parts.append(f"<p>{_e(op.get('description') or op.get('summary'))}</p>")
            params = [(p.get("name", ""), p.get("schema", {}), p.get("required", False), p.get("in", ""))
                      for p in op.get("parameters", [])]
            body = op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
            if body is not None:
                body = _resolve(body, components)
                required = set(body.get("required", []))
                params += [(name, _resolve(s, components), name in required, "body")
                           for name, s in body.get("properties", {}).items()]
            if params:
                parts.append(_table(params, components))
    return ("<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{_e(info.get('title', 'API'))} API</title><style>{_STYLE}</style></head>"
            f"<body>{''.join(parts)}</body></html>\n")


def _table(params: list[tuple[str, dict[str, Any], bool, str]], components: dict[str, Any]) -> str:
    rows = ["<table><tr><th>field</th><th>in</th><th>type</th><th>required / default</th>"
            "<th>limits</th><th>description</th></tr>"]
    for name, s, required, where in params:
        default = "required" if required else ("default " + json.dumps(s["default"]) if "default" in s else "")
        limits = ", ".join(f"{k} {s[k]}" for k in _CONSTRAINTS if k in s)
        rows.append(f"<tr><td><code>{_e(name)}</code></td><td>{_e(where)}</td><td>{_e(_type(s, components))}</td>"
                    f"<td>{_e(default)}</td><td>{_e(limits)}</td><td>{_e(s.get('description', ''))}</td></tr>")
    return "".join(rows) + "</table>"


def _resolve(s: dict[str, Any], components: dict[str, Any]) -> dict[str, Any]:
    ref = s.get("$ref", "")
    if ref.startswith("#/components/schemas/"):
        return {**components.get(ref.rsplit("/", 1)[1], {}), **{k: v for k, v in s.items() if k != "$ref"}}
    return s


def _type(s: dict[str, Any], components: dict[str, Any], depth: int = 0) -> str:
    """A short type description: ``string``, ``integer``, ``array of string``, ``"a" | "b"``, ``x or null``."""
    if depth > 4:
        return "…"
    s = _resolve(s, components)
    if "enum" in s:
        return " | ".join(json.dumps(v) for v in s["enum"])
    if "const" in s:
        return json.dumps(s["const"])
    for key in ("anyOf", "oneOf"):
        if key in s:
            return " or ".join(_type(x, components, depth + 1) for x in s[key])
    kind = s.get("type", "any")
    if kind == "array":
        items = s.get("prefixItems") or s.get("items")
        if isinstance(items, list):
            return "[" + ", ".join(_type(x, components, depth + 1) for x in items) + "]"
        return "array of " + _type(items or {}, components, depth + 1)
    return str(kind)


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)
