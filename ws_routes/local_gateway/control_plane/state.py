"""What the control plane holds, and the ``--state FILE`` it survives restarts in.

Resources are kept in their wire form (the model's ``locationName`` keys: ``routeKey``,
``integrationUri``...), so an answer is the stored resource filtered to the output shape. The
file is JSON, rewritten atomically (temporary file, fsync, ``os.replace``) after every change;
a file that is not what this module wrote is refused at start with :class:`StateFileError`.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

FORMAT = "ws_routes.local_gateway.control_plane/1"

#: The collections of one API, by the resource they hold.
SECTIONS = {
    "Integration": "integrations",
    "Route": "routes",
    "Model": "models",
    "Stage": "stages",
    "Deployment": "deployments",
}


class StateFileError(Exception):
    """The state file cannot be used; the message says which file and why."""


def empty_api(api: dict[str, Any]) -> dict[str, Any]:
    """A new API's record: the API itself and its (empty) collections."""
    record: dict[str, Any] = {"api": api, "routeResponses": {}, "snapshots": {}}
    for section in SECTIONS.values():
        record[section] = {}
    return record


class ControlPlaneState:
    """Every API the control plane knows; ``save()`` writes ``path`` when there is one.

    Example::

        state = ControlPlaneState.load(Path("gateway.json"))   # {} if the file is absent
        state.apis["abc123defg"]["routes"]
    """

    def __init__(self, path: Path | None = None, apis: dict[str, Any] | None = None) -> None:
        self.path = path
        self.apis: dict[str, dict[str, Any]] = apis if apis is not None else {}

    @classmethod
    def load(cls, path: Path | str | None) -> ControlPlaneState:
        """Read ``path`` (absent: start empty); a corrupt file raises :class:`StateFileError`."""
        if path is None:
            return cls()
        path = Path(path)
        if not path.exists():
            if not path.parent.is_dir():
                raise StateFileError(f"State file {path}: directory {path.parent} does not exist")
            return cls(path)
        try:
            text = path.read_text(encoding="utf-8")
            document = json.loads(text)
        except (OSError, UnicodeDecodeError, ValueError, RecursionError) as error:
            raise StateFileError(
                f"State file {path} is not readable JSON ({error}); refusing to start rather "
                "than lose it. Fix or move the file (a new one is created when absent)."
            ) from None
        return cls(path, _checked(path, document))

    def to_json(self) -> str:
        return json.dumps({"format": FORMAT, "apis": self.apis}, indent=1, sort_keys=True)

    def save(self) -> None:
        """Write the whole state atomically: a crash leaves the old file or the new one."""
        if self.path is None:
            return
        text = self.to_json()
        directory = self.path.parent
        handle, temporary = tempfile.mkstemp(prefix=f".{self.path.name}.", dir=directory)
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as stream:
                stream.write(text)
                stream.flush()
                os.fsync(stream.fileno())
            os.replace(temporary, self.path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise


def _checked(path: Path, document: Any) -> dict[str, dict[str, Any]]:
    def refuse(why: str) -> StateFileError:
        return StateFileError(
            f"State file {path} is not a local gateway state ({why}); refusing to start rather "
            "than overwrite it. Fix or move the file."
        )

    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise refuse(f"expected an object with format {FORMAT!r}")
    apis = document.get("apis")
    if not isinstance(apis, dict):
        raise refuse("'apis' must be an object")
    for api_id, record in apis.items():
        if not isinstance(record, dict) or not isinstance(record.get("api"), dict):
            raise refuse(f"API {api_id!r} has no 'api' object")
        if record["api"].get("apiId") != api_id:
            raise refuse(f"API {api_id!r} has apiId {record['api'].get('apiId')!r}")
        for section in (*SECTIONS.values(), "routeResponses", "snapshots"):
            value = record.get(section)
            if not isinstance(value, dict) or not all(isinstance(v, dict) for v in value.values()):
                raise refuse(f"API {api_id!r}: {section!r} must be an object of objects")
    return apis
