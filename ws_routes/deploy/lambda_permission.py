"""The resource-policy statement that lets a gateway's API invoke its Lambda function.

One statement per API, ``Sid`` ``ws-routes-{api_id}``: principal ``apigateway.amazonaws.com``,
action ``lambda:InvokeFunction``, condition ``AWS:SourceArn`` = the API's ARN
(``arn:{partition}:execute-api:{region}:{account}:{api_id}/*``). Read with ``GetPolicy`` while
planning, added with ``AddPermission`` when missing or different; ``--prune`` removes only our
statements (``ws-routes-*``) for APIs no gateway row sends to this function. Statements of
anyone else are never touched. (botocore ``lambda`` ``AddPermissionRequest``,
``RemovePermissionRequest``, ``GetPolicyResponse.Policy``; developer guide
``apigateway-websocket-api-integrations.html``: API Gateway needs permission to invoke.)
"""

from __future__ import annotations

import json
from typing import Any

from ..aws_partitions import LAMBDA_FUNCTION_ARN, partition_for
from ..models import ApiGateway
from .aws import call_aws, is_not_found
from .change import ApplyContext, Change
from .errors import AwsCallError

STATEMENT_PREFIX = "ws-routes-"
PRINCIPAL = "apigateway.amazonaws.com"
ACTION = "lambda:InvokeFunction"
KIND = "lambda permission"


def source_arn(gateway: ApiGateway, api_id: str) -> str:
    """The API's ARN the statement is scoped to (every stage and route of that API only)."""
    match = LAMBDA_FUNCTION_ARN.fullmatch(gateway.target_lambda_arn)
    assert match is not None  # desired_state refused anything else
    region = gateway.get_region() or match["region"]
    partition = partition_for(region).id
    return f"arn:{partition}:execute-api:{region}:{match['account']}:{api_id}/*"


def read_statements(client: Any, function_arn: str) -> list[dict[str, Any]]:
    """The function's resource-policy statements (``[]`` when it has no policy yet)."""
    try:
        answer = call_aws(client, "get_policy", FunctionName=function_arn)
    except AwsCallError as error:
        if is_not_found(error):
            return []
        raise
    try:
        statements = json.loads(answer.get("Policy") or "{}").get("Statement") or []
    except (ValueError, AttributeError):
        return []
    return [s for s in statements if isinstance(s, dict)]


def _matches(statement: dict[str, Any], wanted_source: str) -> bool:
    condition = statement.get("Condition") or {}
    sources = [
        (condition.get(test) or {}).get("AWS:SourceArn") for test in ("ArnLike", "ArnEquals")
    ]
    return (
        statement.get("Effect") == "Allow"
        and statement.get("Principal") == {"Service": PRINCIPAL}
        and statement.get("Action") == ACTION
        and wanted_source in sources
    )


def _add(client: Any, gateway: ApiGateway, api_id: str) -> Change:
    arn = gateway.target_lambda_arn

    def add_permission(ctx: ApplyContext) -> None:
        try:
            call_aws(
                client,
                "add_permission",
                FunctionName=arn,
                StatementId=STATEMENT_PREFIX + ctx.api_id,
                Action=ACTION,
                Principal=PRINCIPAL,
                SourceArn=source_arn(gateway, ctx.api_id),
            )
        except AwsCallError as error:
            if error.code != "ResourceConflictException":  # another sync added it: done
                raise

    name = STATEMENT_PREFIX + (api_id or "<new API id>")
    source = source_arn(gateway, api_id or "<new API id>")
    return Change("+", KIND, name, (f"{PRINCIPAL} may invoke {arn} from {source}",), add_permission)


def _remove(client: Any, function_arn: str, sid: str, why: str) -> Change:
    def remove_permission(ctx: ApplyContext) -> None:
        try:
            call_aws(client, "remove_permission", FunctionName=function_arn, StatementId=sid)
        except AwsCallError as error:
            if not is_not_found(error):
                raise

    return Change("-", KIND, sid, (why,), remove_permission)


def permission_changes(
    gateway: ApiGateway, api_id: str, client: Any, *, prune: bool
) -> list[Change]:
    """What makes the function's policy let this API (and, pruned, only our APIs) invoke it."""
    arn = gateway.target_lambda_arn
    ours = {
        str(s.get("Sid")): s
        for s in read_statements(client, arn)
        if str(s.get("Sid") or "").startswith(STATEMENT_PREFIX)
    }
    changes: list[Change] = []
    sid = STATEMENT_PREFIX + api_id
    existing = ours.get(sid) if api_id else None
    if existing is not None and not _matches(existing, source_arn(gateway, api_id)):
        changes.append(_remove(client, arn, sid, "replaced: not scoped to this API"))
        existing = None
    if existing is None:
        changes.append(_add(client, gateway, api_id))
    if prune:
        kept = set(
            ApiGateway.objects.filter(target_lambda_arn=arn)
            .exclude(api_id="")
            .values_list("api_id", flat=True)
        ) | {api_id}
        for stale in sorted(ours):
            if stale.removeprefix(STATEMENT_PREFIX) not in kept:
                changes.append(_remove(client, arn, stale, "no gateway row uses that API"))
    return changes


def add_to_plan(plan: Any, client: Any, *, prune: bool) -> None:
    """Put the permission changes of ``plan.gateway`` before the plan's deployment (if any)."""
    changes = permission_changes(plan.gateway, plan.api_id, client, prune=prune)
    at = len(plan.changes)
    if plan.changes and plan.changes[-1].kind == "deployment":
        at -= 1
    plan.changes[at:at] = changes
