"""Who may reach the local gateway's control plane: SigV4 holders on its own address, no page.

The control plane can read every integration (with the gateway secret in its request
parameters, as AWS returns them) and point the integration at any server, so a web page the
developer visits must not reach it: DNS rebinding (a foreign ``Host``) and cross-site
``text/plain`` POSTs (no preflight) are refused, and every request must be signed with the
credentials ``@connections`` accepts (``management_auth``).

Example: ``refusal = ControlPlaneGuard(credentials, "127.0.0.1", lambda: 8001).refuse(request)``
(``None``: let it through).
"""

from __future__ import annotations

import ipaddress
import logging
import re
from collections.abc import Callable, Mapping

from aiohttp import web

from .control_plane.http_api import error_response
from .control_plane.service_model import ApiError
from .management_auth import ManagementCredentials, is_loopback
from .sigv4 import SignatureError, verify_sigv4

logger = logging.getLogger("ws_routes.local_gateway")

#: Headers every browser adds to a page's requests and no SDK sends (Fetch Metadata).
BROWSER_HEADERS = ("Origin", "Sec-Fetch-Site", "Sec-Fetch-Mode", "Sec-Fetch-Dest", "Sec-Fetch-User")
LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
WILDCARD_HOSTS = frozenset({"", "0.0.0.0", "::"})
# AWS's common error codes for unsigned and badly signed requests (CommonErrors, e.g.
# https://docs.aws.amazon.com/apigateway/latest/api/CommonErrors.html); which one each
# apigatewayv2 case returns exactly is unknown, the status (403) is what SDKs act on.
_SIGNATURE_CODES = {
    "Missing Authentication Token": "MissingAuthenticationTokenException",
    "The security token included in the request is invalid.": "UnrecognizedClientException",
}


def is_browser_request(headers: Mapping[str, str]) -> bool:
    return any(name in headers for name in BROWSER_HEADERS)


def host_is_ours(host_header: str, listen_host: str, port: int) -> bool:
    """Whether ``Host`` names the address and port the gateway listens on.

    A loopback or wildcard bind also answers to ``localhost``/127.0.0.1/[::1]; a wildcard bind
    to any IP literal (a LAN address), never to a name a page's DNS could rebind.
    """
    name, colon, port_text = host_header.rpartition(":")
    if not colon or not port_text.isdigit() or int(port_text) != port:
        return False
    name = name.lower()
    if name.startswith("[") and name.endswith("]"):
        name = name[1:-1]
    if name == listen_host.lower().strip("[]"):
        return True
    if (listen_host in WILDCARD_HOSTS or is_loopback(listen_host)) and name in LOOPBACK_NAMES:
        return True
    if listen_host in WILDCARD_HOSTS:
        try:
            ipaddress.ip_address(name)
        except ValueError:
            return False
        return True
    return False


def verify_request(request: web.Request, body: bytes, credentials: ManagementCredentials) -> None:
    """SigV4 of ``request`` (as received, ``body`` hashed) by one of ``credentials``; raises
    ``SignatureError``. One check for ``@connections`` and the control plane."""
    try:
        verify_sigv4(
            method=request.method,
            raw_path=request.raw_path,
            headers=request.headers,
            body=body,
            credentials=credentials.keys,
        )
    except SignatureError as error:
        _log_refused_signature(request.headers.get("Authorization", ""), credentials, error)
        raise


#: (access key id, reason) pairs logged once each, at most this many (a flood stays quiet).
MAX_LOGGED_REFUSALS = 100
_logged_refusals: set[tuple[str, str]] = set()


def _log_refused_signature(
    authorization: str, credentials: ManagementCredentials, error: SignatureError
) -> None:
    """Say which access key ids to compare: the request's and the accepted ones (never a
    secret key). The request's id is logged only when it looks like one."""
    match = re.search(r"Credential=([^/,\s]*)", authorization)
    given = match.group(1) if match else ""
    shown = given if re.fullmatch(r"[A-Za-z0-9]{1,128}", given) else "(none or malformed)"
    key = (shown, str(error))
    if key in _logged_refusals or len(_logged_refusals) >= MAX_LOGGED_REFUSALS:
        return
    _logged_refusals.add(key)
    logger.warning(
        "Refused a request signed with access key id %s: %s Compare the credentials of the "
        "sender (Django: boto3's chain, e.g. AWS_ACCESS_KEY_ID) with the ones this gateway "
        "accepts (%s; access key id %s, printed by runwsgateway).",
        shown,
        error,
        credentials.source,
        ", ".join(sorted(credentials.keys)),
    )


def _forbidden(code: str, message: str) -> web.Response:
    """A 403 in the control plane's own error shape (``x-amzn-ErrorType``, ``message``)."""
    return error_response(ApiError(code, message, 403))


class ControlPlaneGuard:
    """Checks one control-plane request before anything reads its body's meaning."""

    def __init__(
        self, credentials: ManagementCredentials, listen_host: str, port: Callable[[], int | None]
    ) -> None:
        self.credentials = credentials
        self.listen_host = listen_host
        self.port = port

    async def refuse(self, request: web.Request, body: bytes) -> web.Response | None:
        """A 403 for a browser, a foreign ``Host`` or a bad signature; ``None`` otherwise."""
        if is_browser_request(request.headers):
            return _forbidden("ForbiddenException", "Browser requests are refused.")
        port = self.port()
        if port is None or not host_is_ours(
            request.headers.get("Host", ""), self.listen_host, port
        ):
            return _forbidden("ForbiddenException", "Host is not this gateway's address.")
        try:
            verify_request(request, body, self.credentials)
        except SignatureError as error:
            code = _SIGNATURE_CODES.get(str(error), "InvalidSignatureException")
            return _forbidden(code, str(error))
        return None
