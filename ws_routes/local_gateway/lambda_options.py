"""``--lambda [FUNCTION=]module.path:handler``: the in-process Lambda handlers, checked at start.

Each value names a function ``handler(event, context)`` (what a Lambda function's "Handler"
setting names, with ``:`` before the attribute). ``FUNCTION=`` (a function ARN, or a name)
ties it to the AWS_PROXY integrations that invoke that function; without it the handler
answers the quick-start stage and any function not named. A value that does not import,
is not a plain function, or does not take ``(event, context)`` is refused before the port
is bound, naming the value.
"""

from __future__ import annotations

import importlib
import inspect
import re
from collections.abc import Callable, Iterable
from typing import Any

from .lambda_proxy import DEFAULT_FUNCTION, FUNCTION_ARN

_FUNCTION_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
_DOTTED = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")


class LambdaOptionError(ValueError):
    """A ``--lambda`` value that cannot be used; the message names it."""


def load_handler(spec: str) -> Callable[..., Any]:
    """``"ws_routes.aws_lambda:handler"`` → that function (``LambdaOptionError`` if not one)."""
    module_name, colon, attribute = spec.partition(":")
    if not colon or not _DOTTED.fullmatch(module_name) or not _DOTTED.fullmatch(attribute):
        raise LambdaOptionError(
            f"--lambda {spec!r}: expected module.path:function (e.g. ws_routes.aws_lambda:handler)"
        )
    try:
        target: Any = importlib.import_module(module_name)
    except Exception as error:  # ImportError, or whatever the module raised while importing
        raise LambdaOptionError(
            f"--lambda {spec!r}: cannot import {module_name!r}: {type(error).__name__}: {error}"
        ) from None
    for part in attribute.split("."):
        if not hasattr(target, part):
            raise LambdaOptionError(f"--lambda {spec!r}: {module_name!r} has no {attribute!r}")
        target = getattr(target, part)
    if isinstance(target, type) or not callable(target):
        raise LambdaOptionError(
            f"--lambda {spec!r}: {attribute!r} is a {type(target).__name__}, not a function"
        )
    if inspect.iscoroutinefunction(target):
        raise LambdaOptionError(
            f"--lambda {spec!r}: {attribute!r} is async; Lambda's Python runtime calls a plain "
            "function handler(event, context)"
        )
    try:
        inspect.signature(target).bind(None, None)
    except TypeError:
        raise LambdaOptionError(
            f"--lambda {spec!r}: {attribute!r} does not take (event, context)"
        ) from None
    except ValueError:  # no signature (a builtin): let the call tell
        pass
    return target


def parse_lambda_options(values: Iterable[str]) -> dict[str, Callable[..., Any]]:
    """The ``--lambda`` values as ``{function ARN | name | "*": handler}``."""
    handlers: dict[str, Callable[..., Any]] = {}
    for value in values:
        function, equals, spec = value.rpartition("=")
        key = function if equals else DEFAULT_FUNCTION
        if equals and not (FUNCTION_ARN.fullmatch(key) or _FUNCTION_NAME.fullmatch(key)):
            raise LambdaOptionError(
                f"--lambda {value!r}: {key!r} is neither a Lambda function ARN "
                "(arn:aws:lambda:REGION:ACCOUNT:function:NAME) nor a function name"
            )
        if key in handlers:
            which = "without FUNCTION=" if key == DEFAULT_FUNCTION else f"for {key!r}"
            raise LambdaOptionError(f"--lambda {value!r}: a second handler {which}")
        handlers[key] = load_handler(spec)
    return handlers
