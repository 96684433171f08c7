"""Recognise a call through an integration the reference package deployed (before syncroutes).

Such a call has the reference's ``Connectionid`` header and no ``X-Ws-Secret``; it is refused
(403) like any call without the secret, but with a message that names the fix.
"""

from __future__ import annotations

from django.http import HttpRequest

from ..contract import SECRET_HEADER, meta_key

#: The 403 a call through an integration the reference deployed gets until syncroutes runs.
REDEPLOY_MESSAGE = (
    "This call came through an API Gateway integration made by django-aws-api-gateway-websockets "
    "(no X-Ws-Secret header): run `manage.py syncroutes` to redeploy it (docs/migrating.md)."
)


def from_an_old_integration(request: HttpRequest) -> bool:
    """No secret header, but the reference's ``Connectionid`` header: a not yet synced gateway."""
    meta = request.META
    return meta_key(SECRET_HEADER) not in meta and "HTTP_CONNECTIONID" in meta
