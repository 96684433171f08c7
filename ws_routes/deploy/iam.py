"""The least-privilege IAM policy for exactly the AWS calls the library makes
(``manage.py syncroutes --print-iam-policy``).
"""

from __future__ import annotations

import re
from typing import Any

from ..aws_partitions import partition_for
from ..models import ApiGateway
from . import aws
from .aws import call_aws
from .errors import PlanError

#: Every apigatewayv2 operation syncroutes/createApiGateway call (tests check it is exact).
SYNC_OPERATIONS = (
    "GetApis",
    "GetApi",
    "CreateApi",
    "UpdateApi",
    "GetIntegrations",
    "CreateIntegration",
    "UpdateIntegration",
    "DeleteIntegration",
    "GetRoutes",
    "CreateRoute",
    "UpdateRoute",
    "DeleteRoute",
    "GetRouteResponses",
    "CreateRouteResponse",
    "DeleteRouteResponse",
    "GetModels",
    "CreateModel",
    "UpdateModel",
    "DeleteModel",
    "GetStages",
    "CreateStage",
    "CreateDeployment",
)

#: apigatewayv2 operations a sync calls only in some cases, always allowed: GetModel (GetModels
#: gave an item without its Schema), GetDeployment (a deployment answered PENDING), UpdateStage
#: (the stage description changed).
SYNC_OCCASIONAL_OPERATIONS = ("GetModel", "GetDeployment", "UpdateStage")

#: Operations only called before the API exists (to find or create it by name).
API_DISCOVERY_OPERATIONS = ("GetApis", "CreateApi")

#: Every apigatewayv2 operation createCustomDomain calls.
#: Lambda calls of a sync of a gateway with ``target_lambda_arn`` (its invoke permission).
LAMBDA_OPERATIONS = ("GetPolicy", "AddPermission", "RemovePermission")

DOMAIN_OPERATIONS = ("GetDomainName", "CreateDomainName", "GetApiMappings", "CreateApiMapping")

#: Management API methods the sender uses (post_to_connection, delete_connection).
CONNECTION_METHODS = ("POST", "DELETE")


#: API Gateway's service-linked role, which AWS creates when the first regional custom domain of
#: an account is made, with the caller's permission to create it.
#: https://docs.aws.amazon.com/apigateway/latest/developerguide/using-service-linked-roles.html
SERVICE_LINKED_ROLE_SERVICE = "ops.apigateway.amazonaws.com"
SERVICE_LINKED_ROLE_PATH = (
    f"role/aws-service-role/{SERVICE_LINKED_ROLE_SERVICE}/AWSServiceRoleForAPIGateway"
)


def _partition(region: str) -> str:
    """The ARN partition of a region, from botocore's partition data."""
    return partition_for(region).id


def connection_arns(
    partition: str, region: str, account_id: str, api: str, stage: str
) -> list[str]:
    """The ``@connections`` ARNs the sender needs ``execute-api:ManageConnections`` on.

    https://docs.aws.amazon.com/apigateway/latest/developerguide/apigateway-websocket-control-access-iam.html
    Example: ``connection_arns("aws", "eu-west-2", "123456789012", "abc123", "production")``.
    """
    return [
        f"arn:{partition}:execute-api:{region}:{account_id}:{api}/{stage}/{method}/@connections/*"
        for method in CONNECTION_METHODS
    ]


def caller_account_id(gateway: ApiGateway, *, client: Any = None) -> str:
    """The AWS account id of the current credentials (``sts:GetCallerIdentity``, always allowed).

    Example: ``iam_policy(gateway, account_id=caller_account_id(gateway))``.
    """
    client = client if client is not None else aws.sts_client(gateway)
    return str(call_aws(client, "get_caller_identity")["Account"])


def iam_policy(gateway: ApiGateway, *, account_id: str) -> dict[str, Any]:
    """A least-privilege IAM policy for exactly the calls this library makes for ``gateway``.

    API Gateway authorises its management API by HTTP verb on the resource path
    (``apigateway:POST`` on ``arn:aws:apigateway:REGION::/apis/API_ID/routes``), so the policy is
    derived from botocore's own description of each operation the library calls. With an
    ``api_id`` the paths are scoped to that API (and API discovery/creation is left out);
    sending needs ``execute-api:ManageConnections`` on the stage's ``@connections``. Example::

        print(json.dumps(iam_policy(gateway, account_id="123456789012"), indent=2))
    """
    import botocore.session

    region = gateway.get_region()
    if not region:
        raise PlanError(
            f"Gateway {gateway.api_name!r} has no region: set ApiGateway.region or "
            "WS_ROUTES['REGION']."
        )
    if not re.fullmatch(r"\d{12}", account_id):
        raise PlanError(f"{account_id!r} is not a 12-digit AWS account id.")
    partition = _partition(region)
    service = botocore.session.get_session().get_service_model("apigatewayv2")
    operations = [
        op
        for op in (*SYNC_OPERATIONS, *SYNC_OCCASIONAL_OPERATIONS)
        if not (gateway.api_id and op in API_DISCOVERY_OPERATIONS)
    ]
    if gateway.domain_name:
        operations.extend(DOMAIN_OPERATIONS)
    resources: dict[str, set[str]] = {}
    for operation in operations:
        http = service.operation_model(operation).http
        path = http["requestUri"].split("?", 1)[0].removeprefix("/v2")
        path = path.replace("{apiId}", gateway.api_id or "*")
        path = path.replace("{domainName}", gateway.domain_name or "*")
        path = re.sub(r"\{[^}]+\}", "*", path)
        resources.setdefault(http["method"], set()).add(
            f"arn:{partition}:apigateway:{region}::{path}"
        )
    creates_domain = bool(gateway.domain_name) and not gateway.custom_domain_created
    if gateway.tags and (not gateway.api_id or creates_domain):
        # Tags given at creation (CreateApi, CreateDomainName) are authorised on the tags
        # resource too (POST /v2/tags/{resource-arn}).
        resources.setdefault("POST", set()).add(f"arn:{partition}:apigateway:{region}::/tags/*")
    statements: list[dict[str, Any]] = [
        {
            "Sid": f"ApiGateway{method.title()}",
            "Effect": "Allow",
            "Action": f"apigateway:{method}",
            "Resource": sorted(paths),
        }
        for method, paths in sorted(resources.items())
    ]
    api = gateway.api_id or "*"
    statements.append(
        {
            "Sid": "ManageConnections",
            "Effect": "Allow",
            "Action": "execute-api:ManageConnections",
            "Resource": connection_arns(partition, region, account_id, api, gateway.stage_name),
        }
    )
    if gateway.domain_name:
        statements.append(
            {
                "Sid": "ApiGatewayServiceLinkedRole",
                "Effect": "Allow",
                "Action": "iam:CreateServiceLinkedRole",
                "Resource": f"arn:{partition}:iam::{account_id}:{SERVICE_LINKED_ROLE_PATH}",
                "Condition": {"StringEquals": {"iam:AWSServiceName": SERVICE_LINKED_ROLE_SERVICE}},
            }
        )
    if gateway.target_lambda_arn:
        statements.append(
            {
                "Sid": "LambdaInvokePermission",  # the function's resource policy (docs/lambda.md)
                "Effect": "Allow",
                "Action": [f"lambda:{op}" for op in LAMBDA_OPERATIONS],
                "Resource": gateway.target_lambda_arn,
            }
        )
    if gateway.hosted_zone_id:
        zone = gateway.hosted_zone_id.removeprefix("/hostedzone/")
        statements.append(
            {
                "Sid": "CustomDomainDns",
                "Effect": "Allow",
                "Action": "route53:ChangeResourceRecordSets",
                "Resource": f"arn:{partition}:route53:::hostedzone/{zone}",
            }
        )
    return {"Version": "2012-10-17", "Statement": statements}
