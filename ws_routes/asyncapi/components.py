"""Ids and reusable schemas of an AsyncAPI document being built.

A route's JSON Schema keeps its nested definitions under ``definitions``/``$defs`` and points at
them with ``#/definitions/X``; inside an AsyncAPI document ``#`` is the document, so the
definitions move to ``components/schemas`` and every reference is rewritten to point there.
"""

from __future__ import annotations

import copy
import json
import re
from typing import Any

#: What AsyncAPI 3.0 allows in a component (and here: channel, operation, message) key.
_ID_UNSAFE = re.compile(r"[^A-Za-z0-9_.\-]")
_LOCAL_DEFINITIONS = ("#/definitions/", "#/$defs/")


def safe_id(text: str) -> str:
    """``"chat/send:now"`` -> ``"chat_send_now"``: a key AsyncAPI accepts."""
    return _ID_UNSAFE.sub("_", text) or "_"


class Ids:
    """Unique keys for one map of the document: ``ids.new("chat.send")`` -> ``"chat.send"``."""

    def __init__(self) -> None:
        self._taken: set[str] = set()

    def new(self, text: str) -> str:
        base = candidate = safe_id(text)
        number = 2
        while candidate in self._taken:
            candidate = f"{base}_{number}"
            number += 1
        self._taken.add(candidate)
        return candidate


class SchemaComponents:
    """``components/schemas``: definitions renamed on a clash, shared when they are the same.

    Two schemas share their definitions only when all of them are equal (the same Pydantic
    models), so a reference never lands on a look-alike with different neighbours.
    """

    def __init__(self) -> None:
        self.schemas: dict[str, Any] = {}
        self._ids = Ids()
        self._seen: dict[str, dict[str, str]] = {}

    def embed(self, schema: Any, name: str) -> Any:
        """``schema`` with its definitions moved here and its references rewritten."""
        schema = copy.deepcopy(schema)
        if not isinstance(schema, dict):
            return schema
        schema.pop("$schema", None)
        definitions = {**schema.pop("definitions", {}), **schema.pop("$defs", {})}
        fingerprint = json.dumps(definitions, sort_keys=True, default=str)
        renamed: dict[str, str] = {}
        placeholder: dict[str, str] = {}
        known = self._seen.get(fingerprint) if definitions else None
        for def_name in definitions if known is None else ():
            # Reserve the key first: definitions may refer to one another (and to themselves).
            placeholder[def_name] = key = self._ids.new(str(def_name))
            renamed[def_name] = f"#/components/schemas/{key}"
        if known is not None:
            renamed = known
        elif definitions:
            self._seen[fingerprint] = renamed
        root_ref = [""]

        def rewrite(node: Any) -> Any:
            if isinstance(node, dict):
                out = {k: rewrite(v) for k, v in node.items()}
                ref = out.get("$ref")
                if isinstance(ref, str):
                    out["$ref"] = self._rewritten(ref, renamed, root_ref, name)
                return out
            if isinstance(node, list):
                return [rewrite(item) for item in node]
            return node

        for def_name, key in placeholder.items():
            self.schemas[key] = rewrite(definitions[def_name])
        body = rewrite(schema)
        if root_ref[0]:  # the schema refers to itself ("#"): it must be a component too
            self.schemas[root_ref[0]] = body
            return {"$ref": f"#/components/schemas/{root_ref[0]}"}
        return body

    def _rewritten(self, ref: str, renamed: dict[str, str], root_ref: list[str], name: str) -> str:
        if ref == "#":
            if not root_ref[0]:
                root_ref[0] = self._ids.new(name)
            return f"#/components/schemas/{root_ref[0]}"
        for prefix in _LOCAL_DEFINITIONS:
            if ref.startswith(prefix):
                head, _, rest = ref[len(prefix) :].partition("/")
                head = head.replace("~1", "/").replace("~0", "~")
                if head in renamed:
                    return renamed[head] + (f"/{rest}" if rest else "")
        return ref
