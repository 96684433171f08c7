"""Issue 21 item 3: a gateway with ``target_lambda_arn`` is provisioned with ``AWS_PROXY``
integrations and the function's invoke permission, under moto (apigatewayv2, lambda, iam)."""

from __future__ import annotations

import io
import json
import zipfile
from typing import Any

import boto3
import pytest

from tests.deploy_support import REGION, RecordingClient
from ws_routes.aws_lambda import reset_gateway_cache
from ws_routes.aws_partitions import lambda_integration_uri
from ws_routes.deploy import LAMBDA_OPERATIONS, PlanError, desired_state, iam, plan_sync
from ws_routes.deploy import aws as deploy_aws
from ws_routes.deploy.apply import sync_gateway
from ws_routes.models import ApiGateway

pytest_plugins = ["tests.deploy_fixtures"]

ACCOUNT = "123456789012"
FUNCTION = "ws-routes"
FUNCTION_ARN = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{FUNCTION}"
URI = f"arn:aws:apigateway:{REGION}:lambda:path/2015-03-31/functions/{FUNCTION_ARN}/invocations"


@pytest.fixture
def lambda_client(aws_moto: RecordingClient, monkeypatch: pytest.MonkeyPatch) -> RecordingClient:
    """A function in moto's Lambda (moto implements AddPermission/GetPolicy/RemovePermission)."""
    role = boto3.client("iam", region_name=REGION).create_role(
        RoleName="ws-routes-lambda",
        AssumeRolePolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": "lambda.amazonaws.com"},
                        "Action": "sts:AssumeRole",
                    }
                ],
            }
        ),
    )["Role"]["Arn"]
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as archive:
        archive.writestr("app.py", "def handler(event, context):\n    return {}\n")
    client = RecordingClient(boto3.client("lambda", region_name=REGION))
    client.create_function(
        FunctionName=FUNCTION,
        Runtime="python3.12",
        Role=role,
        Handler="ws_routes.aws_lambda.handler",
        Code={"ZipFile": code.getvalue()},
    )
    client.reset()
    monkeypatch.setattr(deploy_aws, "lambda_client", lambda gateway: client)
    return client


@pytest.fixture
def lambda_gateway(ws_gateway: ApiGateway, settings: Any) -> ApiGateway:
    ws_gateway.target_lambda_arn = FUNCTION_ARN
    ws_gateway.domain_name = ""
    ws_gateway.save()
    settings.WS_ROUTES = {**settings.WS_ROUTES, "GATEWAY_SECRETS": []}  # Lambda needs none
    return ws_gateway


def statements(client: RecordingClient) -> list[dict[str, Any]]:
    try:
        policy = client.get_policy(FunctionName=FUNCTION_ARN)["Policy"]
    except client.exceptions.ResourceNotFoundException:
        return []
    return json.loads(policy)["Statement"]


def add_statement(client: RecordingClient, sid: str, source_arn: str) -> None:
    client.add_permission(
        FunctionName=FUNCTION_ARN,
        StatementId=sid,
        Action="lambda:InvokeFunction",
        Principal="apigateway.amazonaws.com",
        SourceArn=source_arn,
    )


def test_every_integration_invokes_the_function(lambda_gateway):
    desired = desired_state(lambda_gateway)
    for integration in desired.integrations.values():
        arguments = integration.aws_arguments()
        assert arguments["IntegrationType"] == "AWS_PROXY"
        assert arguments["IntegrationUri"] == URI
        assert arguments["RequestParameters"] == {}  # no secret, no mappings
    assert desired.routes["$connect"].request_parameters == {}
    assert desired.routes["chat.send"].two_way  # replies still need the route response


def test_the_uri_is_in_the_regions_partition():
    arn = "arn:aws-cn:lambda:cn-north-1:123456789012:function:f"
    assert lambda_integration_uri(arn, "cn-north-1") == (
        f"arn:aws-cn:apigateway:cn-north-1:lambda:path/2015-03-31/functions/{arn}/invocations"
    )


@pytest.mark.parametrize(
    "arn",
    [
        "ws-routes",
        "arn:aws:lambda:eu-west-2:123:function:f",
        f"{FUNCTION_ARN}/x",
        "arn:aws:s3:::bucket",
    ],
)
def test_a_malformed_function_arn_is_refused_before_any_call(lambda_gateway, arn):
    lambda_gateway.target_lambda_arn = arn
    with pytest.raises(PlanError, match="not a Lambda function ARN"):
        desired_state(lambda_gateway)


def test_a_sync_creates_aws_proxy_integrations_and_the_permission(
    lambda_gateway, aws_moto, lambda_client
):
    plan = plan_sync(lambda_gateway, client=aws_moto)
    assert "+ lambda permission ws-routes-<new API id>" in str(plan)
    sync_gateway(lambda_gateway, client=aws_moto)
    lambda_gateway.refresh_from_db()
    api_id = lambda_gateway.api_id
    integrations = aws_moto.get_integrations(ApiId=api_id)["Items"]
    assert {(i["IntegrationType"], i["IntegrationUri"]) for i in integrations} == {
        ("AWS_PROXY", URI)
    }
    assert len(integrations) == 2  # the router's and $connect's
    routes = {r["RouteKey"]: r for r in aws_moto.get_routes(ApiId=api_id)["Items"]}
    targets = {f"integrations/{i['IntegrationId']}" for i in integrations}
    assert {r["Target"] for r in routes.values()} <= targets
    assert routes["chat.send"]["RouteResponseSelectionExpression"] == "$default"
    [statement] = statements(lambda_client)
    assert statement["Sid"] == f"ws-routes-{api_id}"
    assert statement["Principal"] == {"Service": "apigateway.amazonaws.com"}
    assert statement["Action"] == "lambda:InvokeFunction"
    assert statement["Condition"]["ArnLike"]["AWS:SourceArn"] == (
        f"arn:aws:execute-api:{REGION}:{ACCOUNT}:{api_id}/*"
    )
    assert plan_sync(lambda_gateway, client=aws_moto).lines() == []  # idempotent
    called = {"".join(part.title() for part in op.split("_")) for op in lambda_client.operations}
    assert called <= set(LAMBDA_OPERATIONS)  # what the IAM policy allows


def test_prune_removes_only_our_stale_statements(lambda_gateway, aws_moto, lambda_client):
    sync_gateway(lambda_gateway, client=aws_moto)
    lambda_gateway.refresh_from_db()
    add_statement(lambda_client, "ws-routes-oldapi1234", "arn:aws:execute-api:x:1:oldapi1234/*")
    add_statement(lambda_client, "someone-else", "arn:aws:execute-api:x:1:theirs/*")
    kept = plan_sync(lambda_gateway, client=aws_moto, prune=False)
    assert kept.lines() == []
    plan = plan_sync(lambda_gateway, client=aws_moto)
    assert plan.lines() == [
        "- lambda permission ws-routes-oldapi1234: no gateway row uses that API"
    ]
    sync_gateway(lambda_gateway, client=aws_moto)
    sids = sorted(s["Sid"] for s in statements(lambda_client))
    assert sids == sorted([f"ws-routes-{lambda_gateway.api_id}", "someone-else"])


def test_a_statement_of_ours_scoped_wrongly_is_replaced(lambda_gateway, aws_moto, lambda_client):
    sync_gateway(lambda_gateway, client=aws_moto)
    lambda_gateway.refresh_from_db()
    sid = f"ws-routes-{lambda_gateway.api_id}"
    lambda_client.remove_permission(FunctionName=FUNCTION_ARN, StatementId=sid)
    add_statement(lambda_client, sid, "arn:aws:execute-api:*:*:*/*")  # any API at all
    plan = plan_sync(lambda_gateway, client=aws_moto)
    assert [line.split(":")[0] for line in plan.lines()] == [
        f"- lambda permission {sid}",
        f"+ lambda permission {sid}",
    ]
    sync_gateway(lambda_gateway, client=aws_moto)
    assert plan_sync(lambda_gateway, client=aws_moto).lines() == []


def test_an_http_gateway_switched_to_lambda_converges(
    ws_gateway, aws_moto, lambda_client, settings
):
    sync_gateway(ws_gateway, client=aws_moto)
    ws_gateway.refresh_from_db()
    ws_gateway.target_lambda_arn = FUNCTION_ARN
    ws_gateway.save()
    sync_gateway(ws_gateway, client=aws_moto)
    integrations = aws_moto.get_integrations(ApiId=ws_gateway.api_id)["Items"]
    assert {i["IntegrationType"] for i in integrations} == {"AWS_PROXY"}
    assert plan_sync(ws_gateway, client=aws_moto).lines() == []


def test_the_iam_policy_adds_exactly_the_lambda_actions(lambda_gateway):
    with_lambda = iam.iam_policy(lambda_gateway, account_id=ACCOUNT)["Statement"]
    lambda_gateway.target_lambda_arn = ""
    plain = iam.iam_policy(lambda_gateway, account_id=ACCOUNT)["Statement"]
    assert [s for s in with_lambda if s not in plain] == [
        {
            "Sid": "LambdaInvokePermission",
            "Effect": "Allow",
            "Action": ["lambda:GetPolicy", "lambda:AddPermission", "lambda:RemovePermission"],
            "Resource": FUNCTION_ARN,
        }
    ]
    assert all(s in with_lambda for s in plain)


def test_the_admin_form_refuses_a_malformed_arn(db):
    from contrib_admin.forms import ApiGatewayForm

    data = {
        "api_name": "chat",
        "stage_name": "production",
        "route_selection_expression": "$request.body.action",
        "api_key_selection_expression": "$request.header.x-api-key",
        "tags": "{}",
    }
    good = ApiGatewayForm(data={**data, "target_lambda_arn": FUNCTION_ARN})
    assert good.is_valid(), good.errors
    bad = ApiGatewayForm(data={**data, "target_lambda_arn": "arn:aws:lambda:nope"})
    assert not bad.is_valid() and "target_lambda_arn" in bad.errors


def test_without_a_url_the_router_is_the_one_the_handler_serves(lambda_gateway, ws_router):
    reset_gateway_cache()  # the mounts another test's URLconf left
    lambda_gateway.target_base_endpoint = ""
    desired = desired_state(lambda_gateway)
    assert set(ws_router.routes) <= set(desired.routes)
    for key in list(ws_router.routes):
        ws_router._routes.pop(key)  # an empty router is still that router, not "none"
    assert set(desired_state(lambda_gateway).routes) == {"$connect", "$disconnect", "$default"}
