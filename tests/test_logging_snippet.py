"""Issue 26 item 6: the documented LOGGING snippet (docs/security.md) redacts connect tokens.

``runserver`` logged raw ``?token=`` values until the docs showed how to install
``RedactConnectTokens``; the snippet is taken from the page and run through ``dictConfig``.
"""

from __future__ import annotations

import io
import logging
import logging.config
import re
from pathlib import Path

import pytest

PAGE = Path(__file__).resolve().parent.parent / "docs" / "security.md"


def documented_logging() -> dict:
    blocks = re.findall(r"```python\n(.*?)```", PAGE.read_text(), re.S)
    snippets = [block for block in blocks if "RedactConnectTokens" in block]
    assert len(snippets) == 1, "docs/security.md shows one LOGGING snippet with the filter"
    namespace: dict = {}
    exec(snippets[0], namespace)  # noqa: S102 (our own documentation)
    return namespace["LOGGING"]


@pytest.fixture
def server_logger():
    logger = logging.getLogger("django.server")
    saved = (logger.handlers[:], logger.filters[:], logger.level, logger.propagate)
    yield logger
    logger.handlers[:], logger.filters[:] = saved[0], saved[1]
    logger.level, logger.propagate = saved[2], saved[3]


def test_the_snippet_redacts_runservers_request_lines(server_logger):
    config = documented_logging()
    logging.config.dictConfig(config)
    stream = io.StringIO()
    server_logger.handlers[0].setStream(stream)
    server_logger.info(
        '"%s" %s %s', "POST /ws/?token=s3cret-Token_value&channel=lobby HTTP/1.1", "200", "2"
    )
    server_logger.info("GET /ws/?channel=x&token=other-secret HTTP/1.1")
    written = stream.getvalue()
    assert "s3cret" not in written and "other-secret" not in written
    assert "?token=[redacted]&channel=lobby" in written and "&token=[redacted]" in written
    assert "200" in written  # the record is kept, only the value goes


def test_the_snippet_honours_the_token_parameter_setting(server_logger, settings):
    settings.WS_ROUTES = {**settings.WS_ROUTES, "TOKEN_QUERY_PARAM": "t"}
    logging.config.dictConfig(documented_logging())
    stream = io.StringIO()
    server_logger.handlers[0].setStream(stream)
    server_logger.info("POST /ws/?t=abcdef HTTP/1.1")
    assert "abcdef" not in stream.getvalue()
