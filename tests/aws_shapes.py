"""AWS as it answers, for deploy tests: responses held to botocore's output shapes, and the
variations real AWS may show (header case, GetModels without Schema, small pages, throttling,
deployment status), on a fake clock.

* :class:`ShapedClient` checks every response against the operation's output shape in
  botocore's ``apigatewayv2`` model (a member moto returns that the model lacks is recorded in
  ``extra``), and hands the library :class:`ShapedDict` objects that record every key it reads
  that the model does not define (``unknown_reads``). So a field the code relies on but AWS
  never sends is caught, not hidden by moto.
* Its knobs play AWS's variations; :class:`ThrottlingClient` answers TooManyRequestsException
  past a token bucket, on the same :class:`FakeClock` as the library's pacer.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import botocore.session
from botocore.exceptions import ClientError

_SERVICE = botocore.session.get_session().get_service_model("apigatewayv2")


class FakeClock:
    """``now()`` and ``sleep(seconds)`` that only advance when slept."""

    def __init__(self) -> None:
        self.now_value = 0.0

    def now(self) -> float:
        return self.now_value

    def sleep(self, seconds: float) -> None:
        assert seconds >= 0
        self.now_value += seconds


class ShapedDict(dict):
    """A response structure that records reads of members its botocore shape does not have."""

    def __init__(self, data: dict[str, Any], shape: Any, where: str, log: list[str]) -> None:
        super().__init__(data)
        self._shape = shape
        self._where = where
        self._log = log

    def _check(self, key: Any) -> None:
        if key not in self._shape.members and key != "ResponseMetadata":
            self._log.append(f"{self._where}.{key}")

    def __getitem__(self, key: Any) -> Any:
        self._check(key)
        return super().__getitem__(key)

    def get(self, key: Any, default: Any = None) -> Any:
        self._check(key)
        return super().get(key, default)

    def __contains__(self, key: Any) -> bool:
        self._check(key)
        return super().__contains__(key)


def shaped(value: Any, shape: Any, where: str, extra: list[str], reads: list[str]) -> Any:
    """``value`` checked against ``shape`` (members it lacks go to ``extra``), wrapped."""
    if shape is None:
        return value
    if shape.type_name == "structure" and isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if key == "ResponseMetadata":
                out[key] = item
                continue
            member = shape.members.get(key)
            if member is None:
                extra.append(f"{where}.{key}")
                out[key] = item
            else:
                out[key] = shaped(item, member, f"{where}.{key}", extra, reads)
        return ShapedDict(out, shape, where, reads)
    if shape.type_name == "list" and isinstance(value, list):
        return [shaped(item, shape.member, f"{where}[]", extra, reads) for item in value]
    return value


def _fold_header_names(params: dict[str, str], case: Callable[[str], str]) -> dict[str, str]:
    folded = {}
    for key, value in params.items():
        prefix = "integration.request.header."
        if key.startswith(prefix):
            key = prefix + case(key[len(prefix) :])
        folded[key] = value
    return folded


class ShapedClient:
    """Wraps a (recording, moto-backed) apigatewayv2 client; see the module docstring.

    ``header_case``: a function applied to header names in integrations' RequestParameters;
    ``drop_model_schema``: GetModels items come without Schema; ``page_size``: every
    paginated listing is served in pages this small (NextToken); ``deployment_statuses``:
    DeploymentStatus of create_deployment then of each get_deployment (last repeats).
    """

    def __init__(
        self,
        inner: Any,
        *,
        header_case: Callable[[str], str] | None = None,
        drop_model_schema: bool = False,
        page_size: int | None = None,
        deployment_statuses: list[tuple[str, str]] | None = None,
    ) -> None:
        self.inner = inner
        self.header_case = header_case
        self.drop_model_schema = drop_model_schema
        self.page_size = page_size
        self.deployment_statuses = list(deployment_statuses or [])
        self.extra: list[str] = []
        self.unknown_reads: list[str] = []
        self.pages_served = 0
        self.operations: list[str] = []
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self._deployments: dict[str, dict[str, Any]] = {}

    @property
    def meta(self) -> Any:
        return self.inner.meta

    def _status(self) -> tuple[str, str]:
        if len(self.deployment_statuses) > 1:
            return self.deployment_statuses.pop(0)
        return self.deployment_statuses[0]

    def _vary(self, name: str, kwargs: dict[str, Any]) -> Any:
        if name == "get_deployment" and kwargs["DeploymentId"] in self._deployments:
            status, message = self._status()
            found = self._deployments[kwargs["DeploymentId"]]
            found.update(DeploymentStatus=status, DeploymentStatusMessage=message)
            return dict(found)
        paged = self.page_size is not None and name.startswith("get_") and name.endswith("s")
        token = kwargs.pop("NextToken", None) if paged else None
        result = getattr(self.inner, name)(**kwargs)
        if name == "create_deployment" and self.deployment_statuses:
            status, message = self._status()
            result = {**result, "DeploymentStatus": status, "DeploymentStatusMessage": message}
            self._deployments[result["DeploymentId"]] = dict(result)
        if self.header_case is not None and name in ("get_integrations", "get_integration"):
            items = result.get("Items", [result])
            for item in items:
                if "RequestParameters" in item:
                    item["RequestParameters"] = _fold_header_names(
                        item["RequestParameters"], self.header_case
                    )
        if self.drop_model_schema and name == "get_models":
            result["Items"] = [
                {k: v for k, v in m.items() if k != "Schema"} for m in result["Items"]
            ]
        if paged and "Items" in result:
            start = int(token or 0)
            assert self.page_size is not None
            page = result["Items"][start : start + self.page_size]
            more = start + self.page_size < len(result["Items"])
            result = {"Items": page, **({"NextToken": str(start + self.page_size)} if more else {})}
            self.pages_served += 1
        return result

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self.inner, name)
        if name.startswith("_") or not callable(attribute):
            return attribute

        def call(**kwargs: Any) -> Any:
            self.operations.append(name)
            self.calls.append((name, dict(kwargs)))
            result = self._vary(name, dict(kwargs))
            operation = _SERVICE.operation_model(_pascal(name))
            return shaped(
                result, operation.output_shape, _pascal(name), self.extra, self.unknown_reads
            )

        return call


class ThrottlingClient:
    """Answers TooManyRequestsException past ``rate`` calls/s (burst ``burst``) on ``clock``, and
    past one CreateDeployment per ``deployment_interval`` s; records when each call went through.
    """

    def __init__(
        self,
        inner: Any,
        clock: FakeClock,
        *,
        rate: float,
        burst: float,
        deployment_interval: float = 5.0,
    ) -> None:
        self.inner = inner
        self.clock = clock
        self.rate = rate
        self.burst = burst
        self.deployment_interval = deployment_interval
        self.tokens = burst
        self.updated = clock.now()
        self.throttled = 0
        self.accepted: list[tuple[float, str]] = []
        self.last_deployment: float | None = None

    @property
    def meta(self) -> Any:
        return self.inner.meta

    def _refuse(self, name: str) -> ClientError:
        self.throttled += 1
        return ClientError(
            {
                "Error": {"Code": "TooManyRequestsException", "Message": "Too Many Requests"},
                "ResponseMetadata": {"HTTPStatusCode": 429},
            },
            _pascal(name),
        )

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self.inner, name)
        if name.startswith("_") or not callable(attribute):
            return attribute

        def call(**kwargs: Any) -> Any:
            now = self.clock.now()
            self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
            self.updated = now
            if self.tokens < 1 - 1e-6:
                raise self._refuse(name)
            if name == "create_deployment":
                last = self.last_deployment
                if last is not None and now - last < self.deployment_interval - 1e-6:
                    raise self._refuse(name)
                self.last_deployment = now
            self.tokens -= 1
            self.accepted.append((now, name))
            return attribute(**kwargs)

        return call


def _pascal(name: str) -> str:
    return "".join(part.title() for part in name.split("_"))
