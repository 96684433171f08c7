"""A management API that refuses our signature (403): say which credentials to compare.

Each post refused 403 is only counted as failed; without this the only trace was a DEBUG line.
The warning names the endpoint, the access key id the post was signed with (never the secret
key) and where each side's credentials come from; once per (host, access key id) per process.

Example log line::

    The management API at 127.0.0.1:8001 refused a post signed with access key id AKIDLOCAL
    (403 ...): compare ...
"""

from __future__ import annotations

import logging
import re

logger = logging.getLogger("ws_routes.sending")

#: (host, access key id) pairs already reported, at most this many.
MAX_REPORTED = 100
_reported: set[tuple[str, str]] = set()


def _message_of(answer: bytes) -> str:
    """The ``message`` AWS put in the body, or "" (shown as text, 200 characters at most)."""
    match = re.search(rb'"[Mm]essage"\s*:\s*"([^"\\]{0,200})', answer)
    return match.group(1).decode("utf-8", "replace") if match else ""


def report_refused_signature(host: str, access_key_id: str | None, answer: bytes) -> None:
    """Log, once per host and key, that ``host`` answered 403 to a post signed by the key."""
    key = (host, access_key_id or "")
    if key in _reported or len(_reported) >= MAX_REPORTED:
        return
    _reported.add(key)
    said = _message_of(answer)
    logger.warning(
        "The management API at %s refused a post signed with %s (403%s): compare the access "
        "key id of boto3's credential chain here (AWS_ACCESS_KEY_ID, AWS_PROFILE, the role) with "
        "the credentials the gateway accepts (AWS: an IAM principal allowed "
        "execute-api:ManageConnections; the local gateway: the access key id runwsgateway "
        "prints). The secret key is never logged.",
        host,
        f"access key id {access_key_id}" if access_key_id else "no signature",
        f": {said}" if said else "",
    )
