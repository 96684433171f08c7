"""The ``ApiGateway`` row as provisioning reads and writes it: find it, write only some fields.

Example: ``save_fields(find_gateway("chat"), last_error="")``.
"""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from ..models import ApiGateway
from .errors import DeployError, redact_secrets

#: Provisioning statuses before the first deployment (a deployment moves them to DEPLOYED).
BEFORE_DEPLOYED = (
    ApiGateway.ProvisioningStatus.PENDING,
    ApiGateway.ProvisioningStatus.API_CREATED,
    ApiGateway.ProvisioningStatus.ROUTES_CREATED,
)


#: The fields provisioning writes (refreshed on the caller's instance after a sync).
AWS_STATE_FIELDS = (
    "api_id",
    "api_endpoint",
    "integration_id",
    "deployment_id",
    "api_created",
    "provisioning_status",
    "last_error",
    "api_gateway_domain_name",
    "api_mapping_id",
    "custom_domain_created",
    "updated_on",
)


def save_fields(gateway: ApiGateway, **fields: Any) -> None:
    """Write only these fields (other fields may be edited in the admin meanwhile)."""
    for name, value in fields.items():
        setattr(gateway, name, value)
    fields["updated_on"] = timezone.now()
    ApiGateway.objects.filter(pk=gateway.pk).update(**fields)


def record_error(gateway: ApiGateway, error: DeployError) -> None:
    """Keep why the last sync or provisioning failed on the row (secrets redacted)."""
    save_fields(gateway, last_error=redact_secrets(str(error)))


def clear_error(gateway: ApiGateway) -> None:
    """Blank ``last_error`` after a step succeeded (no write when it already is blank)."""
    if gateway.last_error:
        save_fields(gateway, last_error="")


def aws_tags(gateway: ApiGateway) -> dict[str, str]:
    """The gateway's ``tags`` as AWS takes them (string keys and values) for a ``Tags`` argument."""
    return {str(key): str(value) for key, value in gateway.tags.items()}


def find_gateway(reference: str | int) -> ApiGateway:
    """The gateway whose ``api_name`` or pk is ``reference`` (``--gateway NAME|PK``, ``--pk N``).

    An int is a pk only; a string is a name first, then a pk if it is all digits.
    Example: ``find_gateway("chat")``, ``find_gateway(1)``.
    """
    text = str(reference).strip()
    gateway = (
        None if isinstance(reference, int) else ApiGateway.objects.filter(api_name=text).first()
    )
    if gateway is None and text.isdigit():
        gateway = ApiGateway.objects.filter(pk=int(text)).first()
    if gateway is None:
        known = ", ".join(f"{g.pk}:{g.api_name}" for g in ApiGateway.objects.order_by("pk")[:20])
        raise DeployError(f"No ApiGateway with name or pk {text!r} (known: {known or 'none'}).")
    return gateway
