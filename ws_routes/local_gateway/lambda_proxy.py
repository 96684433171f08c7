"""The AWS_PROXY integration: the local gateway invokes a Lambda handler in-process.

``runwsgateway --lambda module:handler`` (or ``LocalGateway(lambda_handler=...)``) calls the
handler with the event API Gateway sends a WebSocket Lambda-proxy integration, in a worker
thread (the event loop never waits on it), within the integration timeout. Event shape: AWS
developer guide, "apigateway-websocket-api-integration-requests.html" (checked in the tests
against aws-lambda-powertools' ``APIGatewayWebSocket*EventModel``). The result is read as
AWS reads it: ``{"statusCode", "body", "headers"?, "isBase64Encoded"?}``; anything else, an
exception or a timeout is AWS's "Internal server error" / "Endpoint request timed out".
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
import re
import secrets
import time
import uuid
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import parse_qsl

from multidict import CIMultiDict, CIMultiDictProxy

from .integration import (
    CONNECT,
    MAX_RESPONSE_BYTES,
    MESSAGE,
    EventContext,
    IntegrationError,
    IntegrationResponse,
    IntegrationTimeout,
)

logger = logging.getLogger("ws_routes.local_gateway")

LambdaHandler = Callable[[dict[str, Any], Any], Any]

#: Handlers running at once (Lambda's concurrency, locally); more calls wait for a thread.
LAMBDA_WORKERS = 16
#: The key of the handler used for the quick-start stage and for any function not named.
DEFAULT_FUNCTION = "*"
#: ``IntegrationUri`` of an AWS_PROXY integration (botocore ``CreateIntegrationRequest``).
INVOCATION_URI = re.compile(
    r"arn:[a-z-]+:apigateway:[a-z0-9-]+:lambda:path/2015-03-31/functions/(?P<function>.+)/invocations"
)
FUNCTION_ARN = re.compile(
    r"(?P<unqualified>arn:[a-z-]+:lambda:[a-z0-9-]+:\d{12}:function:(?P<name>[A-Za-z0-9_-]{1,64}))"
    r"(?::[A-Za-z0-9$_-]{1,128})?"
)
#: What the quick-start stage's Lambda "is" (its ``context.invoked_function_arn``).
QUICK_START_FUNCTION_ARN = "arn:aws:lambda:us-east-1:000000000000:function:runwsgateway-quick-start"
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def request_time(epoch_ms: int) -> str:
    """``requestTime`` as AWS writes it: ``06/Dec/2026:20:00:00 +0000`` (no locale)."""
    t = time.gmtime(epoch_ms / 1000)
    return (
        f"{t.tm_mday:02d}/{_MONTHS[t.tm_mon - 1]}/{t.tm_year}:{time.strftime('%H:%M:%S', t)} +0000"
    )


def _header_maps(headers: Mapping[str, str]) -> tuple[dict[str, str], dict[str, list[str]]]:
    single: dict[str, str] = {}
    multi: dict[str, list[str]] = {}
    items = headers.items()
    for name, value in items:
        single[name] = value  # AWS: the last value of a repeated header
        multi.setdefault(name, []).append(value)
    return single, multi


def build_event(
    context: EventContext,
    *,
    api_id: str,
    stage: str,
    domain_name: str,
    body: bytes = b"",
    query_string: str = "",
    handshake_headers: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The event of one CONNECT / MESSAGE / DISCONNECT, as API Gateway sends it to Lambda."""
    now_ms = int(time.time() * 1000)
    identity: dict[str, str] = {"sourceIp": context.source_ip}
    if context.user_agent is not None:
        identity["userAgent"] = context.user_agent
    request_context: dict[str, Any] = {
        "routeKey": context.route,
        "eventType": context.event,
        "extendedRequestId": context.request_id,
        "requestTime": request_time(now_ms),
        "messageDirection": "IN",
        "stage": stage,
        "connectedAt": context.connected_at_ms or now_ms,
        "requestTimeEpoch": now_ms,
        "identity": identity,
        "requestId": context.request_id,
        "domainName": domain_name,
        "connectionId": context.connection_id,
        "apiId": api_id,
    }
    event: dict[str, Any] = {"requestContext": request_context, "isBase64Encoded": False}
    if context.event == MESSAGE:
        request_context["messageId"] = context.request_id
        event["body"] = body.decode("utf-8", "replace")  # text frames only: always UTF-8
        return event
    if context.event == CONNECT:
        headers = CIMultiDict(handshake_headers or {})
        headers.setdefault("X-Forwarded-For", context.source_ip)
        headers.setdefault("X-Forwarded-Proto", "http")
        headers.setdefault(
            "X-Amzn-Trace-Id", f"Root=1-{int(time.time()):08x}-{secrets.token_hex(12)}"
        )
        single, multi = _header_maps(headers)
        pairs = parse_qsl(query_string, keep_blank_values=True)
        if pairs:
            event["queryStringParameters"] = dict(pairs)
            multi_query: dict[str, list[str]] = {}
            for name, value in pairs:
                multi_query.setdefault(name, []).append(value)
            event["multiValueQueryStringParameters"] = multi_query
    else:  # DISCONNECT: what AWS sends (observed), no handshake headers
        code, reason = context.disconnect or (1006, "")
        request_context["disconnectStatusCode"] = code
        request_context["disconnectReason"] = reason
        single, multi = _header_maps(
            {"Host": domain_name, "x-api-key": "", "X-Forwarded-For": "", "x-restapi": ""}
        )
    event["headers"], event["multiValueHeaders"] = single, multi
    return event


class LambdaContext:
    """What the Lambda runtime passes as ``context``: the documented attributes and method."""

    memory_limit_in_mb = 128
    function_version = "$LATEST"

    def __init__(self, function_arn: str, deadline: float) -> None:
        match = FUNCTION_ARN.fullmatch(function_arn)
        self.function_name = match["name"] if match else "local"
        self.invoked_function_arn = function_arn
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{self.function_name}"
        self.log_stream_name = "local"
        self._deadline = deadline

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def read_result(result: Any) -> IntegrationResponse:
    """The handler's answer as API Gateway reads it; ``ValueError`` if it cannot be."""
    if not isinstance(result, dict):
        raise ValueError(f"the result is a {type(result).__name__}, not an object")
    try:
        result = json.loads(json.dumps(result))  # what the Lambda runtime serialises
    except (TypeError, ValueError, RecursionError) as error:
        raise ValueError(f"the result is not JSON: {error}") from None
    status = result.get("statusCode")
    if not isinstance(status, int) or isinstance(status, bool) or not 100 <= status <= 599:
        raise ValueError(f"statusCode must be an integer HTTP status, got {status!r}")
    body = result.get("body")
    if body is not None and not isinstance(body, str):
        raise ValueError(f"body must be a string, got a {type(body).__name__}")
    encoded = result.get("isBase64Encoded", False)
    if not isinstance(encoded, bool):
        raise ValueError("isBase64Encoded must be a boolean")
    headers = result.get("headers") or {}
    if not isinstance(headers, dict) or not all(isinstance(v, str) for v in headers.values()):
        raise ValueError("headers must be an object of strings")
    data = (body or "").encode("utf-8", "surrogatepass")
    if encoded:
        try:
            data = base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError):
            raise ValueError("body is not base64 (isBase64Encoded is true)") from None
    if len(data) > MAX_RESPONSE_BYTES:
        raise ValueError(f"body over {MAX_RESPONSE_BYTES} bytes cannot be a WebSocket message")
    return IntegrationResponse(status, CIMultiDictProxy(CIMultiDict(headers)), data)


class LambdaFunctions:
    """The in-process handlers by function (ARN, unqualified ARN, name, or ``*``) and the
    thread pool they run in.

    Example (inside a running loop)::

        functions = LambdaFunctions({"*": my_handler}, domain_name="127.0.0.1")
        response = await functions.call("*", context, api_id="a", stage="local", timeout=29)
    """

    def __init__(self, handlers: Mapping[str, LambdaHandler], domain_name: str) -> None:
        self.handlers = dict(handlers)
        self.domain_name = domain_name
        self._executor: ThreadPoolExecutor | None = None

    async def call(
        self,
        function_arn: str,
        context: EventContext,
        *,
        api_id: str,
        stage: str,
        timeout: float,
        body: bytes = b"",
        query_string: str = "",
        handshake_headers: Mapping[str, str] | None = None,
    ) -> IntegrationResponse:
        """Build the event of ``context`` and invoke the function with it."""
        event = build_event(
            context,
            api_id=api_id,
            stage=stage,
            domain_name=self.domain_name,
            body=body,
            query_string=query_string,
            handshake_headers=handshake_headers,
        )
        return await self.invoke(function_arn, event, timeout)

    def find(self, function_arn: str) -> LambdaHandler | None:
        """The handler for ``function_arn``: by ARN, ARN without qualifier, name, else ``*``."""
        match = FUNCTION_ARN.fullmatch(function_arn)
        keys = [function_arn] + ([match["unqualified"], match["name"]] if match else [])
        for key in (*keys, DEFAULT_FUNCTION):
            if key in self.handlers:
                return self.handlers[key]
        return None

    def _pool(self) -> ThreadPoolExecutor:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(LAMBDA_WORKERS, thread_name_prefix="ws-lambda")
        return self._executor

    def shutdown(self) -> None:
        """Drop queued calls; running handlers finish in their threads (they cannot be killed)."""
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None

    async def invoke(
        self, function_arn: str, event: dict[str, Any], timeout: float
    ) -> IntegrationResponse:
        """Run the function's handler on ``event``; raises like AWS fails (500 / 504)."""
        where = f"{event['requestContext']['eventType']} {event['requestContext']['routeKey']}"
        handler = self.find(function_arn)
        if handler is None:
            logger.error(
                "%s: no in-process handler for Lambda function %s: start runwsgateway with "
                "--lambda %s=module:handler (or --lambda module:handler for every function)",
                where,
                function_arn,
                function_arn,
            )
            raise IntegrationError()
        context = LambdaContext(function_arn, time.monotonic() + timeout)
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(self._pool(), handler, event, context)
        try:
            result = await asyncio.wait_for(future, timeout)
        except asyncio.TimeoutError:
            logger.warning("%s: Lambda handler timed out after %.1f s", where, timeout)
            raise IntegrationTimeout() from None
        except Exception:
            logger.exception(
                "%s: Lambda handler raised (invocation %s)", where, context.aws_request_id
            )
            raise IntegrationError() from None
        if asyncio.iscoroutine(result):
            result.close()
            logger.error("%s: the Lambda handler returned a coroutine (it must be sync)", where)
            raise IntegrationError()
        try:
            return read_result(result)
        except ValueError as error:
            logger.error("%s: malformed Lambda result: %s", where, error)
            raise IntegrationError() from None


def function_of(integration_uri: str) -> str | None:
    """The function ARN an AWS_PROXY ``IntegrationUri`` invokes, or ``None``."""
    match = INVOCATION_URI.fullmatch(integration_uri)
    return match["function"] if match else None
