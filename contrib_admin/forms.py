"""Forms of the gateway and session admin: what an operator may type, checked before AWS sees it."""

from __future__ import annotations

import json
import re
from typing import Any

import django
from django import forms

from ws_routes.message_parsing import finite_float
from ws_routes.models import ApiGateway, GatewayRoute
from ws_routes.routing import ROUTE_KEY_PATTERN

#: API Gateway's limit for one WebSocket message.
MAX_MESSAGE_BYTES = 128 * 1024
#: How deeply a message typed in the admin may nest (a 100k "[[[[" is not a message).
MAX_MESSAGE_DEPTH = 64
STAGE_NAME_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,128}")
#: A URL typed without a scheme is https (Django 5.0+ asks to say so; 4.2 has no option).
_HTTPS: dict[str, Any] = {"assume_scheme": "https"} if django.VERSION >= (5, 0) else {}


def _url_field(model_field: Any) -> forms.URLField:
    return forms.URLField(
        max_length=model_field.max_length,
        required=False,
        help_text=model_field.help_text,
        **_HTTPS,
    )


class ApiGatewayForm(forms.ModelForm):
    """The editable part of a gateway; AWS-returned fields are read-only in the admin."""

    target_base_endpoint = _url_field(ApiGateway._meta.get_field("target_base_endpoint"))

    class Meta:
        model = ApiGateway
        fields = (
            "api_name",
            "api_description",
            "target_base_endpoint",
            "target_lambda_arn",
            "region",
            "stage_name",
            "stage_description",
            "route_selection_expression",
            "api_key_selection_expression",
            "default_channel_name",
            "domain_name",
            "certificate_arn",
            "hosted_zone_id",
            "tags",
            "sync_on_migrate",
        )

    def clean_stage_name(self) -> str:
        stage = self.cleaned_data["stage_name"]
        if not STAGE_NAME_PATTERN.fullmatch(stage):
            raise forms.ValidationError("Use 1 to 128 characters from A-Z a-z 0-9 _ -.")
        return stage

    def clean_route_selection_expression(self) -> str:
        expression = self.cleaned_data["route_selection_expression"]
        if not re.fullmatch(r"\$request\.body\.[A-Za-z0-9_.-]{1,128}", expression):
            raise forms.ValidationError("Write $request.body.<key>, e.g. $request.body.action.")
        return expression

    def clean_tags(self) -> dict[str, str]:
        tags = self.cleaned_data["tags"]
        if tags in (None, ""):
            return {}
        if not isinstance(tags, dict) or len(tags) > 50:
            raise forms.ValidationError('Tags are an object of at most 50 {"key": "value"} pairs.')
        for key, value in tags.items():
            if not isinstance(value, str) or not 1 <= len(key) <= 128 or len(value) > 256:
                raise forms.ValidationError(
                    "Each tag is a key of 1-128 characters and a string value of at most 256."
                )
        return tags


class GatewayRouteForm(forms.ModelForm):
    """An extra route: a key API Gateway routes to the router or to its own URL."""

    integration_url = _url_field(GatewayRoute._meta.get_field("integration_url"))

    class Meta:
        model = GatewayRoute
        fields = ("route_key", "name", "integration_url")

    def clean_route_key(self) -> str:
        key = self.cleaned_data["route_key"]
        if not ROUTE_KEY_PATTERN.fullmatch(key):
            raise forms.ValidationError(
                "Use 1 to 128 characters from A-Z a-z 0-9 _ . : / - not starting with '$' "
                "($connect, $disconnect and $default always go to the router)."
            )
        return key


def _depth(value: Any, limit: int) -> int:
    """Nesting depth of parsed JSON, iteratively (no recursion on hostile input)."""
    deepest = 0
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            return depth
        deepest = max(deepest, depth)
        if isinstance(node, dict):
            stack.extend((child, depth + 1) for child in node.values())
        elif isinstance(node, list):
            stack.extend((child, depth + 1) for child in node)
    return deepest


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


class SendMessageForm(forms.Form):
    """A JSON message to push to the selected sessions, at most API Gateway's 128 KB."""

    message = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 12, "cols": 80, "spellcheck": "false"}),
        help_text='Any JSON value, e.g. {"type": "notice", "text": "Maintenance at 18:00"}. '
        "At most 128 KB.",
        strip=False,
    )

    def clean_message(self) -> Any:
        raw = self.cleaned_data["message"]
        if len(raw.encode("utf-8", "surrogatepass")) > MAX_MESSAGE_BYTES:
            raise forms.ValidationError(
                f"The message is larger than {MAX_MESSAGE_BYTES // 1024} KB, API Gateway's limit."
            )
        try:
            # 1e400 would parse to infinity and go out as "Infinity", which is not JSON.
            data = json.loads(raw, parse_constant=_reject_constant, parse_float=finite_float)
        except (ValueError, RecursionError) as error:
            raise forms.ValidationError(f"Not valid JSON: {error}") from None
        if _depth(data, MAX_MESSAGE_DEPTH) > MAX_MESSAGE_DEPTH:
            raise forms.ValidationError(f"Nested deeper than {MAX_MESSAGE_DEPTH} levels.")
        try:
            encoded = json.dumps(
                data, ensure_ascii=False, allow_nan=False, separators=(",", ":")
            ).encode("utf-8")
        except UnicodeEncodeError:
            raise forms.ValidationError("The message contains a lone UTF-16 surrogate.") from None
        if len(encoded) > MAX_MESSAGE_BYTES:
            raise forms.ValidationError(
                f"The encoded message is larger than {MAX_MESSAGE_BYTES} bytes."
            )
        return data
