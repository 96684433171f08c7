"""Keep one-time connect tokens out of access logs.

API Gateway's ``$connect`` integration carries ``?token=`` in the URL it posts to Django, so a
server that logs request lines (``runserver``'s ``django.server`` logger, gunicorn's access log)
would write a credential to disk. The token is single use and short-lived, but a log is read by
more people than a database. Example ``LOGGING``::

    "filters": {"ws_tokens": {"()": "ws_routes.log_filters.RedactConnectTokens"}},
    "loggers": {"django.server": {"filters": ["ws_tokens"]}},
"""

from __future__ import annotations

import logging
import re
from functools import lru_cache

REDACTED = "[redacted]"


@lru_cache(maxsize=4)
def _pattern(parameter: str) -> re.Pattern[str]:
    return re.compile(rf"([?&;]{re.escape(parameter)}=)[^&;\s\"']*")


def redact_tokens(text: str, parameter: str = "token") -> str:
    """``text`` with the value of every ``parameter=`` query parameter replaced.

    Example: ``redact_tokens("POST /ws/?token=abc&channel=x")`` is
    ``"POST /ws/?token=[redacted]&channel=x"``.
    """
    return _pattern(parameter).sub(rf"\g<1>{REDACTED}", text)


class RedactConnectTokens(logging.Filter):
    """A logging filter that redacts ``?token=`` (``WS_ROUTES["TOKEN_QUERY_PARAM"]``) values
    in a record's message and arguments; it never drops a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        from .conf import ws_setting

        parameter = ws_setting("TOKEN_QUERY_PARAM")
        if isinstance(record.msg, str):
            record.msg = redact_tokens(record.msg, parameter)
        if isinstance(record.args, tuple):
            record.args = tuple(
                redact_tokens(arg, parameter) if isinstance(arg, str) else arg
                for arg in record.args
            )
        elif isinstance(record.args, dict):
            record.args = {
                key: redact_tokens(value, parameter) if isinstance(value, str) else value
                for key, value in record.args.items()
            }
        return True
