"""/docs: one offline HTML page rendered from the OpenAPI document (every operation, then every schema)."""

from __future__ import annotations

import html
from typing import Any

__all__ = ["docs_html"]

S = dict[str, Any]


def _schema_text(schema: Any) -> str:
    if not isinstance(schema, dict):
        return html.escape(str(schema))
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        return f'<a href="#schema-{name}">{name}</a>'
    if "anyOf" in schema:
        return " | ".join(_schema_text(s) for s in schema["anyOf"])
    if schema.get("type") == "array":
        return f"array of {_schema_text(schema.get('items', {}))}"
    keys = (
        "type",
        "enum",
        "format",
        "pattern",
        "minimum",
        "exclusiveMinimum",
        "maximum",
        "minLength",
        "maxLength",
        "minItems",
        "maxItems",
        "default",
    )
    return html.escape(", ".join(f"{k}={schema[k]}" for k in keys if k in schema))


def docs_html(doc: S) -> str:
    """One static page: every operation with its parameters, body and responses, then every schema."""
    out = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'><title>",
        html.escape(doc["info"]["title"]),
        "</title><style>body{font:14px/1.45 system-ui,sans-serif;max-width:70em;margin:2em auto;padding:0 1em}"
        "h2{border-top:1px solid #ccc;padding-top:.6em}code,pre{background:#f4f4f4;padding:0 .2em}"
        "table{border-collapse:collapse;margin:.4em 0}td,th{border:1px solid #ddd;padding:.2em .5em;text-align:left}"
        ".m{font-weight:bold;text-transform:uppercase}</style></head><body>",
        f"<h1>{html.escape(doc['info']['title'])} <small>{html.escape(doc['info']['version'])}</small></h1>",
        f"<p>{html.escape(doc['info']['description'])}</p>",
        "<p>Machine-readable: <a href='/openapi.json'>/openapi.json</a> (OpenAPI ",
        html.escape(doc["openapi"]),
        ").</p>",
    ]
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            out.append(f"<h2><span class='m'>{method}</span> <code>{html.escape(path)}</code></h2>")
            out.append(f"<p>{html.escape(op['description'])}</p>")
            if op["parameters"]:
                out.append("<table><tr><th>parameter</th><th>in</th><th>required</th><th>schema</th><th></th></tr>")
                for p in op["parameters"]:
                    out.append(
                        f"<tr><td><code>{html.escape(p['name'])}</code></td><td>{p['in']}</td>"
                        f"<td>{'yes' if p.get('required') else 'no'}</td><td>{_schema_text(p['schema'])}</td>"
                        f"<td>{html.escape(p.get('description', ''))}</td></tr>"
                    )
                out.append("</table>")
            if "requestBody" in op:
                schema = op["requestBody"]["content"]["application/json"]["schema"]
                out.append(f"<p>Body (application/json): {_schema_text(schema)}</p>")
            out.append("<table><tr><th>status</th><th>response</th></tr>")
            for code, r in op["responses"].items():
                if "$ref" in r:
                    r = doc["components"]["responses"][r["$ref"].rsplit("/", 1)[-1]]
                media = next(iter(r.get("content", {"": {}}).items()))
                out.append(
                    f"<tr><td>{code}</td><td>{html.escape(r['description'])} <code>{html.escape(media[0])}</code> "
                    f"{_schema_text(media[1].get('schema', {}))}</td></tr>"
                )
            out.append("</table>")
    out.append("<h1>Schemas</h1>")
    for name, schema in doc["components"]["schemas"].items():
        out.append(f"<h2 id='schema-{name}'>{name}</h2>")
        if schema.get("description"):
            out.append(f"<p>{html.escape(schema['description'])}</p>")
        props = schema.get("properties", {})
        if props:
            req = set(schema.get("required", []))
            out.append("<table><tr><th>field</th><th>required</th><th>schema</th><th></th></tr>")
            for k, v in props.items():
                out.append(
                    f"<tr><td><code>{html.escape(k)}</code></td><td>{'yes' if k in req else 'no'}</td>"
                    f"<td>{_schema_text(v)}</td><td>{html.escape(str(v.get('description', '')))}</td></tr>"
                )
            out.append("</table>")
    out.append("</body></html>")
    return "".join(out)
