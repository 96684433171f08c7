"""Identifiers shaped like API Gateway's: connection ids, request ids.

API Gateway's connection ids are 16 characters of URL-safe base64 ending in ``=`` (for example
``JC1dgf9yoAMCK-g=``); the ``=`` has to be percent-encoded in ``@connections/{id}`` paths, which is
exactly what a sender that builds those paths by hand gets wrong.
"""

from __future__ import annotations

import base64
import secrets


def new_connection_id() -> str:
    """A fresh connection id like AWS's: 11 random bytes as URL-safe base64 (16 chars, ``=``).

    Example: ``new_connection_id()`` → ``'d9PuYcJxoAMCJlw='``.
    """
    return base64.urlsafe_b64encode(secrets.token_bytes(11)).decode("ascii")


def new_request_id() -> str:
    """A fresh request id (``context.requestId``), same shape as a connection id."""
    return base64.urlsafe_b64encode(secrets.token_bytes(11)).decode("ascii")
