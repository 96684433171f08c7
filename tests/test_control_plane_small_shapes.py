"""Tags, authorizers, AWS's default members and the close code echo, through real clients.

References: botocore's ``apigatewayv2`` model (GetTags, TagResource, UntagResource,
GetAuthorizers); AWS CLI examples ``get-stage`` (RouteSettings, StageVariables, Tags present)
and ``create-integration`` (WebSocket MOCK); RFC 6455 section 5.5.1 (close code echo).
"""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.e2e.support import RawWebSocket, StubBackend, control_plane_client, frame, run
from ws_routes.local_gateway import LocalGateway

RSE = "$request.body.action"


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[LocalGateway]:
    with LocalGateway(state_file=str(tmp_path / "state.json")) as local:
        yield local


@pytest.fixture
def client(gateway: LocalGateway) -> Any:
    return control_plane_client(gateway, "eu-west-2")


def new_api(client: Any, **extra: Any) -> str:
    return client.create_api(
        Name="chat", ProtocolType="WEBSOCKET", RouteSelectionExpression=RSE, **extra
    )["ApiId"]


def arn(api_id: str, stage: str | None = None) -> str:
    tail = f"/stages/{stage}" if stage else ""
    return f"arn:aws:apigateway:eu-west-2::/apis/{api_id}{tail}"


def error_of(call: Any, **kwargs: Any) -> tuple[str, str]:
    with pytest.raises(ClientError) as raised:
        call(**kwargs)
    return raised.value.response["Error"]["Code"], raised.value.response["Error"]["Message"]


def test_tags_of_an_api_and_a_stage_round_trip(client):
    api_id = new_api(client, Tags={"team": "chat"})
    assert client.get_tags(ResourceArn=arn(api_id))["Tags"] == {"team": "chat"}
    client.tag_resource(ResourceArn=arn(api_id), Tags={"env": "dev", "team": "core"})
    assert client.get_tags(ResourceArn=arn(api_id))["Tags"] == {"team": "core", "env": "dev"}
    assert client.get_api(ApiId=api_id)["Tags"] == {"team": "core", "env": "dev"}
    client.untag_resource(ResourceArn=arn(api_id), TagKeys=["team", "absent"])
    assert client.get_tags(ResourceArn=arn(api_id))["Tags"] == {"env": "dev"}
    client.create_stage(ApiId=api_id, StageName="prod")
    assert client.get_tags(ResourceArn=arn(api_id, "prod"))["Tags"] == {}
    client.tag_resource(ResourceArn=arn(api_id, "prod"), Tags={"a": "1"})
    assert client.get_stage(ApiId=api_id, StageName="prod")["Tags"] == {"a": "1"}


def test_a_new_api_and_stage_carry_the_members_awss_examples_show(client):
    api_id = new_api(client)
    assert client.get_api(ApiId=api_id)["Tags"] == {}
    client.create_stage(ApiId=api_id, StageName="prod", StageVariables={"f": "x"})
    stage = client.get_stage(ApiId=api_id, StageName="prod")
    assert stage["RouteSettings"] == {} and stage["Tags"] == {}
    assert stage["StageVariables"] == {"f": "x"}
    client.create_stage(ApiId=api_id, StageName="dev")
    assert client.get_stage(ApiId=api_id, StageName="dev")["StageVariables"] == {}


@pytest.mark.parametrize(
    "tags",
    [
        {"aws:owner": "x"},
        {"": "x"},
        {"k" * 129: "x"},
        {"bad\nkey": "x"},
        {"key": "v" * 257},
        {"ke<y>": "x"},
        {f"t{index}": "x" for index in range(51)},
        {f"t{index}": "x" for index in range(3000)},
    ],
)
def test_malformed_or_too_many_tags_are_refused_and_nothing_changes(client, tags):
    api_id = new_api(client, Tags={"keep": "me"})
    code, _ = error_of(client.tag_resource, ResourceArn=arn(api_id), Tags=tags)
    assert code == "BadRequestException"
    code, _ = error_of(
        client.create_api,
        Name="x",
        ProtocolType="WEBSOCKET",
        RouteSelectionExpression=RSE,
        Tags=tags,
    )
    assert code == "BadRequestException"
    assert client.get_tags(ResourceArn=arn(api_id))["Tags"] == {"keep": "me"}
    assert len(client.get_apis()["Items"]) == 1


def test_fifty_tags_fit_and_the_fifty_first_does_not(client):
    api_id = new_api(client)
    client.tag_resource(ResourceArn=arn(api_id), Tags={f"t{i}": "x" for i in range(50)})
    client.tag_resource(ResourceArn=arn(api_id), Tags={"t0": "replaced"})  # same key: fits
    code, _ = error_of(client.tag_resource, ResourceArn=arn(api_id), Tags={"one": "more"})
    assert code == "BadRequestException"


@pytest.mark.parametrize(
    "resource, code",
    [
        ("arn:aws:apigateway:eu-west-2::/apis/nosuchapi0", "NotFoundException"),
        ("arn:aws:apigateway:eu-west-2::/restapis/abc", "BadRequestException"),
        ("not-an-arn", "BadRequestException"),
    ],
)
def test_tags_of_an_unknown_resource(client, resource, code):
    assert error_of(client.get_tags, ResourceArn=resource)[0] == code
    assert error_of(client.tag_resource, ResourceArn=resource, Tags={"a": "b"})[0] == code


def test_tags_of_an_unknown_stage_are_not_found(client):
    api_id = new_api(client)
    assert error_of(client.get_tags, ResourceArn=arn(api_id, "nope"))[0] == "NotFoundException"


def test_authorizers_are_an_empty_collection(client):
    api_id = new_api(client)
    assert client.get_authorizers(ApiId=api_id)["Items"] == []
    code, _ = error_of(client.get_authorizer, ApiId=api_id, AuthorizerId="abc123")
    assert code == "NotFoundException"
    assert error_of(client.get_authorizers, ApiId="nosuchapi0")[0] == "NotFoundException"
    code, _ = error_of(client.get_authorizers, ApiId=api_id, NextToken="garbage")
    assert code == "BadRequestException"


def test_the_gateway_keeps_answering_after_hostile_tag_calls(client):
    api_id = new_api(client)
    for _ in range(3):
        error_of(client.tag_resource, ResourceArn=arn(api_id), Tags={"x" * 5000: "y"})
        error_of(client.get_tags, ResourceArn="arn:" + "a" * 5000)
    assert client.get_api(ApiId=api_id)["ApiId"] == api_id


@pytest.mark.parametrize(
    "sent, echoed", [(4000, 4000), (1000, 1000), (3001, 3001), (1001, 1001), (None, 1000)]
)
def test_a_client_close_code_is_echoed_in_the_close_reply(sent, echoed):
    backend = StubBackend().start()
    try:
        with LocalGateway(backend.url, secret="s" * 40, stage="local") as gateway:

            async def scenario() -> int:
                status, raw = await RawWebSocket.connect(gateway.port)
                assert status == 101
                payload = b"" if sent is None else struct.pack("!H", sent) + b"bye"
                raw.write(frame(0x8, payload))
                code = await asyncio.wait_for(raw.read_close(), 5)
                await raw.close()
                return code

            assert run(scenario()) == echoed
            disconnect = backend.wait_for("DISCONNECT")
            assert disconnect.event == "DISCONNECT"
    finally:
        backend.stop()
