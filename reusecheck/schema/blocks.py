"""The schema's vocabulary and building blocks, shared by the report and event schemas.

The vocabularies come from where the code declares them (``trace.vocab``).  ``obj`` is
where ``strict`` acts: a strict object refuses fields it does not name, a published one
lets schema 1 grow.
"""

from __future__ import annotations

from typing import Any, Final

from reusecheck.trace.vocab import ERROR_KINDS

Schema = dict[str, Any]

DRAFT: Final = "https://json-schema.org/draft/2020-12/schema"
REPORT_ID: Final = "urn:reusecheck:schema:report:1"
EVENT_ID: Final = "urn:reusecheck:schema:event:1"
DOCUMENT_ID: Final = "urn:reusecheck:schema:1"

REUSE_LEVELS: Final = ("yes", "partial", "no")

# --- building blocks ----------------------------------------------------------------------

STRING: Final[Schema] = {"type": "string"}
BOOL: Final[Schema] = {"type": "boolean"}
COUNT: Final[Schema] = {"type": "integer", "minimum": 0}
SECONDS: Final[Schema] = {"type": "number", "minimum": 0}


def null(schema: Schema) -> Schema:
    """``schema`` or null; enums get null as a member, types as a second type."""
    if "enum" in schema:
        return {**schema, "enum": [*schema["enum"], None]}
    if "$ref" in schema:
        return {"anyOf": [schema, {"type": "null"}]}
    return {**schema, "type": [schema["type"], "null"]}


def enum(values: Any) -> Schema:
    return {"enum": list(values)}


def array(items: Schema) -> Schema:
    return {"type": "array", "items": items}


def obj(strict: bool, properties: dict[str, Schema], optional: tuple[str, ...] = ()) -> Schema:
    return {
        "type": "object",
        "properties": properties,
        "required": [name for name in properties if name not in optional],
        "additionalProperties": not strict,
    }


def ref(name: str) -> Schema:
    return {"$ref": f"#/$defs/{name}"}


def error(strict: bool) -> Schema:
    return obj(strict, {"kind": enum(sorted(ERROR_KINDS)), "message": STRING})
