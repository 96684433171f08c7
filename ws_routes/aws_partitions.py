"""AWS partitions (aws, aws-cn, aws-us-gov, ...) from botocore's own data, read once.

A region belongs to one partition, and the partition gives the DNS suffix of its endpoints
(``amazonaws.com``, ``amazonaws.com.cn``, ``c2s.ic.gov``...) and the first field of its ARNs.
Source: ``botocore/data/partitions.json`` (``partitions[].regions``, ``regionRegex``,
``outputs.dnsSuffix``), the file botocore itself resolves endpoints with. Used for the
execute-api host of the management API (sending), for "is this host AWS" and for IAM ARNs.

Example::

    partition_for("cn-north-1").dns_suffix      # 'amazonaws.com.cn'
    execute_api_host("abc123", "eu-west-2")     # 'abc123.execute-api.eu-west-2.amazonaws.com'
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Partition:
    """One AWS partition: its id (the ARN's partition field) and its endpoints' DNS suffix."""

    id: str
    dns_suffix: str
    dual_stack_dns_suffix: str
    region_regex: str
    regions: frozenset[str]


@functools.lru_cache(maxsize=1)
def partitions() -> tuple[Partition, ...]:
    """Every partition botocore knows, the ``aws`` one first (botocore's own order)."""
    import botocore.loaders

    data: dict[str, Any] = botocore.loaders.create_loader().load_data("partitions")
    found = []
    for entry in data["partitions"]:
        outputs = entry.get("outputs", {})
        found.append(
            Partition(
                id=entry["id"],
                dns_suffix=outputs["dnsSuffix"],
                dual_stack_dns_suffix=outputs.get("dualStackDnsSuffix", ""),
                region_regex=entry.get("regionRegex", "^$"),
                regions=frozenset(entry.get("regions", {})),
            )
        )
    return tuple(found)


def partition_for(region: str) -> Partition:
    """The partition of ``region``: listed regions first, then each partition's region regex,
    then ``aws`` (what botocore does for a region it does not know)."""
    known = partitions()
    for partition in known:
        if region in partition.regions:
            return partition
    for partition in known:
        if re.match(partition.region_regex, region):
            return partition
    return next(p for p in known if p.id == "aws")


def execute_api_host(api_id: str, region: str) -> str:
    """The host of a WebSocket API's stage and its ``@connections`` API in ``region``.

    AWS: ``https://{api-id}.execute-api.{region}.amazonaws.com/{stage}/@connections/{id}``
    (https://docs.aws.amazon.com/apigateway/latest/developerguide/apigateway-how-to-call-websocket-api-connections.html),
    with the partition's suffix in place of ``amazonaws.com``.
    """
    return f"{api_id}.execute-api.{region}.{partition_for(region).dns_suffix}"


def is_aws_host(hostname: str) -> bool:
    """Whether ``hostname`` is under the DNS suffix of any AWS partition."""
    hostname = hostname.lower().rstrip(".")
    for partition in partitions():
        for suffix in (partition.dns_suffix, partition.dual_stack_dns_suffix):
            if suffix and hostname.endswith("." + suffix):
                return True
    return False


#: A Lambda function ARN as an integration may target it (a version or alias qualifier allowed):
#: ``arn:{partition}:lambda:{region}:{account}:function:{name}[:{qualifier}]``.
LAMBDA_FUNCTION_ARN = re.compile(
    r"arn:(?P<partition>aws[a-z-]*):lambda:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):"
    r"function:(?P<name>[A-Za-z0-9_-]{1,64})(?::(?P<qualifier>\$LATEST|[A-Za-z0-9_-]{1,128}))?"
)


def lambda_integration_uri(function_arn: str, region: str) -> str:
    """The ``IntegrationUri`` of an ``AWS_PROXY`` integration invoking ``function_arn``.

    AWS: ``arn:aws:apigateway:{region}:lambda:path/2015-03-31/functions/{function ARN}/invocations``
    (developer guide ``set-up-lambda-proxy-integrations.html``; botocore ``apigatewayv2``
    ``CreateIntegrationRequest.IntegrationUri``), in ``region``'s partition.
    """
    partition = partition_for(region).id
    path = f"path/2015-03-31/functions/{function_arn}/invocations"
    return f"arn:{partition}:apigateway:{region}:lambda:{path}"
