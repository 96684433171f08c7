"""``live_server`` for the end-to-end tests: on 127.0.0.1, and only after the test database exists.

pytest-django's own ``live_server`` is session-scoped and does not depend on ``django_db_setup``,
so it can start first, see the ``:memory:`` settings and share one SQLite connection object with
every request thread of the threaded server; a gateway sending concurrent events then crashes
the interpreter in sqlite3. Created after the test database, each request thread opens its own.
"""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def live_server(django_db_setup, django_db_blocker):
    from pytest_django.live_server_helper import LiveServer

    with django_db_blocker.unblock():
        server = LiveServer("127.0.0.1")
    yield server
    server.stop()
