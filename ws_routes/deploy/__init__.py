"""Provisioning and route sync for an API Gateway WebSocket API, as **plan -> apply**.

The single source of truth is Django: the ``ApiGateway`` record, the ``Router`` mounted at its
``target_base_endpoint`` and the gateway's ``GatewayRoute`` rows. :func:`plan_sync` compares that
with what AWS has and returns a :class:`Plan`, a list of changes printable one a line
(``+ route chat.send``, ``~ integration router: uri ... -> ...``, ``- route old.key``);
:func:`sync_gateway` applies it and deploys the stage.

Everything is rediscovered from AWS on every run -- the API by id or name, our integrations by
their description marker, routes by key, route responses by key, models by name -- so a run that
failed half-way is finished by the next one, and a run with nothing to do makes no mutating call.
The only state kept in the database besides AWS ids is "a deployment is owed":
``ApiGateway.deployment_id`` is blanked before the first mutating call and filled by the
deployment, so a crash between the two is repaired by the next run.

Modules, lowest layer first (each imports only those before it): ``change`` (the ``Change`` and
``ApplyContext`` types), ``errors``, ``aws`` (clients and ``call_aws``: every AWS call), ``records``
(the ``ApiGateway`` row), ``desired``, ``actual``, ``mutations`` (one constructor per change),
``plan``, ``apply``; ``custom_domain`` and ``iam`` beside ``apply``; ``pace`` (the pace of
control-plane calls) beside ``errors``. To replace the AWS clients in
a test, patch ``ws_routes.deploy.aws.apigateway_client`` (the names below are re-exports).

Example::

    from ws_routes.deploy import plan_sync, sync_gateway

    print(plan_sync(gateway))          # what would change, nothing is applied
    result = sync_gateway(gateway)      # plan, apply, deploy
"""

from ..schemas import draft4_problems
from . import custom_domain, iam
from .actual import ActualState, read_actual
from .apply import SyncResult, apply_plan, sync_gateway, sync_report
from .aws import (
    CONNECT_TIMEOUT_SECONDS,
    READ_TIMEOUT_SECONDS,
    apigateway_client,
    call_aws,
    is_not_found,
    list_all,
    route53_client,
    sts_client,
)
from .change import ApplyContext, Change
from .custom_domain import create_custom_domain
from .desired import (
    BUILTIN_ROUTES,
    CONNECT_ROLE,
    DRAFT4_SCHEMA_URI,
    INTEGRATION_MARKER,
    INTEGRATION_TIMEOUT_MS,
    MODEL_PREFIX,
    ROUTER_ROLE,
    DesiredIntegration,
    DesiredModel,
    DesiredRoute,
    DesiredState,
    connect_route_request_parameters,
    desired_state,
    gateway_secret,
    integration_request_parameters,
    model_name,
    model_schema,
    resolve_router,
)
from .errors import AwsCallError, DeployError, PlanChangedError, PlanError, redact_secrets
from .iam import (
    API_DISCOVERY_OPERATIONS,
    CONNECTION_METHODS,
    DOMAIN_OPERATIONS,
    LAMBDA_OPERATIONS,
    SYNC_OCCASIONAL_OPERATIONS,
    SYNC_OPERATIONS,
    caller_account_id,
    iam_policy,
)
from .plan import Plan, plan_sync
from .records import AWS_STATE_FIELDS, BEFORE_DEPLOYED, find_gateway, save_fields

__all__ = [
    "API_DISCOVERY_OPERATIONS",
    "AWS_STATE_FIELDS",
    "BEFORE_DEPLOYED",
    "BUILTIN_ROUTES",
    "CONNECTION_METHODS",
    "CONNECT_ROLE",
    "CONNECT_TIMEOUT_SECONDS",
    "DOMAIN_OPERATIONS",
    "LAMBDA_OPERATIONS",
    "DRAFT4_SCHEMA_URI",
    "INTEGRATION_MARKER",
    "INTEGRATION_TIMEOUT_MS",
    "MODEL_PREFIX",
    "READ_TIMEOUT_SECONDS",
    "ROUTER_ROLE",
    "SYNC_OCCASIONAL_OPERATIONS",
    "SYNC_OPERATIONS",
    "ActualState",
    "ApplyContext",
    "AwsCallError",
    "Change",
    "DeployError",
    "DesiredIntegration",
    "DesiredModel",
    "DesiredRoute",
    "DesiredState",
    "Plan",
    "PlanChangedError",
    "PlanError",
    "SyncResult",
    "apigateway_client",
    "apply_plan",
    "call_aws",
    "caller_account_id",
    "connect_route_request_parameters",
    "create_custom_domain",
    "custom_domain",
    "desired_state",
    "draft4_problems",
    "find_gateway",
    "gateway_secret",
    "iam",
    "iam_policy",
    "integration_request_parameters",
    "is_not_found",
    "list_all",
    "model_name",
    "model_schema",
    "plan_sync",
    "read_actual",
    "redact_secrets",
    "resolve_router",
    "route53_client",
    "save_fields",
    "sts_client",
    "sync_gateway",
    "sync_report",
]
