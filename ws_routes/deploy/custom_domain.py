"""``createCustomDomain``: a REGIONAL custom domain (TLS 1.2) mapped to a gateway's stage.

Resumable like the route sync: each step looks for what an earlier run created before creating it.
"""

from __future__ import annotations

from typing import Any

from ..models import ApiGateway
from . import aws
from .aws import call_aws, is_not_found, list_all
from .errors import AwsCallError, DeployError, PlanError
from .records import BEFORE_DEPLOYED, aws_tags, clear_error, record_error, save_fields

# -- custom domain ------------------------------------------------------------------------------


def domain_name_arguments(gateway: ApiGateway) -> dict[str, Any]:
    """``CreateDomainName``'s arguments for the gateway's custom domain (also the template's
    ``AWS::ApiGatewayV2::DomainName`` properties: one description of the domain)."""
    arguments: dict[str, Any] = {
        "DomainName": gateway.domain_name,
        "DomainNameConfigurations": [
            {
                "CertificateArn": gateway.certificate_arn,
                "EndpointType": "REGIONAL",
                "SecurityPolicy": "TLS_1_2",
            }
        ],
    }
    if gateway.tags:
        arguments["Tags"] = aws_tags(gateway)
    return arguments


def create_custom_domain(
    gateway: ApiGateway, *, client: Any = None, route53: Any = None
) -> list[str]:
    """Create (or find) the REGIONAL, TLS 1.2 custom domain, map it to the stage, write DNS.

    Fills ``api_gateway_domain_name`` (point your CNAME there) and ``api_mapping_id``. With a
    ``hosted_zone_id`` it also UPSERTs a Route 53 alias record. Resumable: whatever already exists
    is reused. Returns one line per thing done. Example::

        for line in create_custom_domain(gateway):
            print(line)
    """
    try:
        return _create_custom_domain(gateway, client, route53)
    except DeployError as error:
        record_error(gateway, error)
        raise


def _create_custom_domain(gateway: ApiGateway, client: Any, route53: Any) -> list[str]:
    name = gateway.api_name
    if not gateway.domain_name:
        raise PlanError(f"Gateway {name!r}: domain_name is blank (e.g. ws.example.com).")
    if not gateway.certificate_arn:
        raise PlanError(
            f"Gateway {name!r}: certificate_arn is blank; request an ACM certificate for "
            f"{gateway.domain_name} in the gateway's region and paste its ARN."
        )
    if not gateway.api_id:
        raise PlanError(f"Gateway {name!r}: create the API first (Create gateway or syncroutes).")
    client = client if client is not None else aws.apigateway_client(gateway)
    done: list[str] = []
    try:
        domain = call_aws(client, "get_domain_name", DomainName=gateway.domain_name)
    except AwsCallError as error:
        if not is_not_found(error):
            raise
        domain = None
    if domain is None:
        domain = call_aws(client, "create_domain_name", **domain_name_arguments(gateway))
        done.append(f"+ domain name {gateway.domain_name} (REGIONAL, TLS 1.2)")
    else:
        done.append(f"= domain name {gateway.domain_name} exists")
    configuration = (domain.get("DomainNameConfigurations") or [{}])[0]
    if configuration.get("CertificateArn") not in (None, gateway.certificate_arn):
        done.append(
            f"! domain name {gateway.domain_name} uses certificate "
            f"{configuration.get('CertificateArn')}, not the gateway's; change one of them"
        )
    target = configuration.get("ApiGatewayDomainName") or ""
    status = gateway.provisioning_status
    if status in (*BEFORE_DEPLOYED, ApiGateway.ProvisioningStatus.DEPLOYED):
        status = ApiGateway.ProvisioningStatus.DOMAIN_CREATED
    save_fields(
        gateway,
        api_gateway_domain_name=target,
        custom_domain_created=True,
        provisioning_status=status,
    )

    mappings = list_all(client, "get_api_mappings", DomainName=gateway.domain_name)
    at_root = [m for m in mappings if not m.get("ApiMappingKey")]
    ours = [
        m
        for m in at_root
        if (m.get("ApiId"), m.get("Stage")) == (gateway.api_id, gateway.stage_name)
    ]
    if ours:
        mapping_id = ours[0]["ApiMappingId"]
        done.append(f"= api mapping {gateway.domain_name} -> {gateway.api_id}/{gateway.stage_name}")
    elif at_root:
        other = at_root[0]
        raise DeployError(
            f"{gateway.domain_name} is already mapped to API {other.get('ApiId')} stage "
            f"{other.get('Stage')}; remove that mapping in AWS first."
        )
    else:
        mapping = call_aws(
            client,
            "create_api_mapping",
            ApiId=gateway.api_id,
            DomainName=gateway.domain_name,
            Stage=gateway.stage_name,
        )
        mapping_id = mapping["ApiMappingId"]
        done.append(f"+ api mapping {gateway.domain_name} -> {gateway.api_id}/{gateway.stage_name}")
    save_fields(
        gateway, api_mapping_id=mapping_id, provisioning_status=ApiGateway.ProvisioningStatus.MAPPED
    )

    if gateway.hosted_zone_id:
        if not target:
            raise DeployError(
                f"AWS did not report the API Gateway domain name of {gateway.domain_name} yet; "
                "run createCustomDomain again in a minute to write the DNS record."
            )
        route53 = route53 if route53 is not None else aws.route53_client(gateway)
        record: dict[str, Any] = {"Name": gateway.domain_name}
        if configuration.get("HostedZoneId"):
            record.update(
                Type="A",
                AliasTarget={
                    "HostedZoneId": configuration["HostedZoneId"],
                    "DNSName": target,
                    "EvaluateTargetHealth": False,
                },
            )
        else:
            record.update(Type="CNAME", TTL=300, ResourceRecords=[{"Value": target}])
        call_aws(
            route53,
            "change_resource_record_sets",
            HostedZoneId=gateway.hosted_zone_id,
            ChangeBatch={
                "Comment": f"ws_routes: {gateway.api_name}",
                "Changes": [{"Action": "UPSERT", "ResourceRecordSet": record}],
            },
        )
        done.append(f"~ dns {record['Type']} {gateway.domain_name} -> {target}")
    elif target:
        done.append(f"# point a CNAME for {gateway.domain_name} at {target}")
    clear_error(gateway)
    return done
