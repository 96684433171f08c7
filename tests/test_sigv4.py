"""The fast path's SigV4 signing and request path, checked against botocore's own."""

from __future__ import annotations

import hashlib

import botocore.session
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest, AWSResponse
from botocore.credentials import Credentials

from ws_routes.sending import Endpoint
from ws_routes.sending.sigv4 import SigV4Signer

AMZ_DATE = "20240102T030405Z"


def botocore_signature(method, url, body, token, headers, amz_date=AMZ_DATE):
    request = AWSRequest(method=method, url=url, data=body, headers=headers)
    request.context["timestamp"] = amz_date
    auth = SigV4Auth(
        Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG", token), "execute-api", "eu-west-2"
    )
    canonical = auth.canonical_request(request)
    return auth.signature(auth.string_to_sign(request, canonical), request)


@pytest.mark.parametrize("token", [None, "FQoGZXIvYXdzE/token+with=chars"])
@pytest.mark.parametrize(
    "method, body",
    [("POST", b'{"text":"h\xc3\xa9llo"}'), ("DELETE", b""), ("POST", b"x" * 131072)],
    ids=["post", "delete", "post-128k"],
)
@pytest.mark.parametrize(
    "host, path",
    [
        ("abc123.execute-api.eu-west-2.amazonaws.com", "/prod/@connections/L0SM9cOFvHcCIhw%3D"),
        ("127.0.0.1:8001", "/@connections/a%2Fb%3Fc%23d%25"),
        ("[::1]:8001", "/x/y/@connections/%F0%9F%98%80"),
    ],
    ids=["aws", "local", "ipv6-unicode"],
)
def test_signature_matches_botocore(token, method, body, host, path):
    signer = SigV4Signer("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG", token, "eu-west-2")
    headers = signer.sign(method, host, path, hashlib.sha256(body).hexdigest(), amz_date=AMZ_DATE)

    signed = {"X-Amz-Date": headers["X-Amz-Date"]}
    if token:
        signed["X-Amz-Security-Token"] = headers["X-Amz-Security-Token"]
    expected = botocore_signature(method, f"https://{host}{path}", body, token, signed)

    assert headers["Authorization"] == (
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20240102/eu-west-2/execute-api/aws4_request, "
        f"SignedHeaders={'host;x-amz-date;x-amz-security-token' if token else 'host;x-amz-date'}, "
        f"Signature={expected}"
    )


def test_a_different_secret_gives_a_different_signature():
    payload = hashlib.sha256(b"{}").hexdigest()
    one = SigV4Signer("AKID", "secret-1", None, "eu-west-2")
    two = SigV4Signer("AKID", "secret-2", None, "eu-west-2")
    args = ("POST", "h.example", "/@connections/a", payload)
    assert one.sign(*args, amz_date=AMZ_DATE) != two.sign(*args, amz_date=AMZ_DATE)


def test_signing_key_follows_the_date():
    signer = SigV4Signer("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG", None, "eu-west-2")
    payload = hashlib.sha256(b"{}").hexdigest()
    for amz_date in ("20240102T235959Z", "20240103T000000Z"):  # the cached key must change
        headers = signer.sign("POST", "h", "/@connections/a", payload, amz_date=amz_date)
        expected = botocore_signature(
            "POST", "https://h/@connections/a", b"{}", None, {"X-Amz-Date": amz_date}, amz_date
        )
        assert f"/{amz_date[:8]}/" in headers["Authorization"]
        assert headers["Authorization"].endswith(f"Signature={expected}")
    assert signer.sign("POST", "h", "/@connections/a", payload)["X-Amz-Date"].endswith("Z")


@pytest.mark.parametrize(
    "connection_id", ["L0SM9cOFvHcCIhw=", "a/b?c#d", "sp ace+plus", "ümlaut😀", "%41"]
)
def test_request_path_is_the_one_botocore_sends(connection_id):
    """Our path for a connection id is byte for byte what botocore puts on the wire."""
    seen = {}

    def capture(request, **kwargs):
        seen["url"] = request.url
        response = AWSResponse(request.url, 200, {}, None)
        response.raw = type("Raw", (), {"stream": lambda self, **kw: iter([b""])})()
        return response

    session = botocore.session.get_session()
    client = session.create_client(
        "apigatewaymanagementapi",
        endpoint_url="https://abc123.execute-api.eu-west-2.amazonaws.com/prod",
        region_name="eu-west-2",
        aws_access_key_id="AKID",
        aws_secret_access_key="secret",
    )
    client.meta.events.register("before-send", capture)
    client.post_to_connection(ConnectionId=connection_id, Data=b"{}")

    endpoint = Endpoint("https://abc123.execute-api.eu-west-2.amazonaws.com/prod", "eu-west-2")
    assert seen["url"] == f"https://{endpoint.host}{endpoint.connection_path(connection_id)}"


def test_endpoint_parts():
    endpoint = Endpoint("http://127.0.0.1:8001/local/", "us-east-1")
    assert (endpoint.scheme, endpoint.hostname, endpoint.port) == ("http", "127.0.0.1", 8001)
    assert (endpoint.host, endpoint.path, endpoint.is_aws) == ("127.0.0.1:8001", "/local", False)
    aws = Endpoint("https://abc.execute-api.eu-west-2.amazonaws.com/prod", "eu-west-2")
    assert (aws.host, aws.port, aws.is_aws) == (
        "abc.execute-api.eu-west-2.amazonaws.com",
        443,
        True,
    )
    assert Endpoint("https://h.example:443", "r").host == "h.example"
    assert Endpoint("http://[::1]:9000", "r").host == "[::1]:9000"


@pytest.mark.parametrize(
    "url",
    [
        "ftp://h/x",
        "http:///nohost",
        "http://h/x?q=1",
        "http://h/x#frag",
        "http://user:pw@h/x",
        "http://h:notaport/x",
        "http://hé.example/x",
    ],
)
def test_endpoint_refuses_urls_it_cannot_sign_or_send_to(url):
    from django.core.exceptions import ImproperlyConfigured

    with pytest.raises(ImproperlyConfigured):
        Endpoint(url, "eu-west-2")
