"""Where the posts of a session go when it is sent through the models: its own gateway's region.

``WebSocketSession.send()`` and the queryset's ``send()`` pass a :class:`GatewayEndpoints` to
the sender. It reads the region of the ``ApiGateway`` row whose ``api_id`` is the session's
(one query per API id and send, never per post), then falls back to ``WS_ROUTES["REGION"]`` and
boto3's chain, and builds the host in that region's partition. So a gateway in ``eu-west-2``
is posted to in ``eu-west-2`` whatever ``AWS_DEFAULT_REGION`` says, as deploy and IAM do
(``ApiGateway.get_region()``).

It does not import the models (they import it): the gateway queryset is given to it.

Example::

    resolve = GatewayEndpoints(ws_settings(), ApiGateway.objects.using("default"))
    resolve("abc123", "production").url
    # 'https://abc123.execute-api.eu-west-2.amazonaws.com/production'
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from .sending.endpoints import SettingsEndpoints


class GatewayEndpoints(SettingsEndpoints):
    """:class:`SettingsEndpoints` whose region per API comes from its ``ApiGateway`` row."""

    regions_per_api = True

    def __init__(self, settings: dict[str, Any], gateways: QuerySet) -> None:
        super().__init__(settings)
        self.gateways = gateways
        self._regions: dict[str, str | None] = {}

    def gateway_region(self, api_id: str) -> str | None:
        if api_id not in self._regions:
            region = (
                self.gateways.filter(api_id=api_id)
                .exclude(region="")
                .order_by("pk")
                .values_list("region", flat=True)
                .first()
            )
            self._regions[api_id] = region or None
        return self._regions[api_id]
