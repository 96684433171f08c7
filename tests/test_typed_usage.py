"""The typed usage file (tests/typed_usage/) is mypy's check; here it also runs."""

import pytest

from tests.typed_usage import public_api_usage as usage


@pytest.mark.django_db
def test_the_typed_usage_runs() -> None:
    usage.a_test()
    assert usage.push_to_lobby("hi") == 0  # nobody is connected to the lobby


def test_the_decorated_handlers_are_the_functions() -> None:
    assert usage.typed_router.routes["chat.send"].handler is usage.chat_send
