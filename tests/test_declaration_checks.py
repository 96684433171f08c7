"""Issue 26 item 5: declarations that failed silently fail at import or ``manage.py check``.

A JSON Schema keyword typo, a body annotated with a model the schema is not, a ``permission=``
no model declares, and unapplied ``ws_routes`` migrations.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from django.core.management import call_command
from django.urls import include, path
from jsonschema.validators import Draft4Validator, Draft202012Validator

from ws_routes import RouteConfigurationError, Router
from ws_routes.route_checks import (
    check_migrations_applied,
    checked_routers,
    permission_problems,
)
from ws_routes.schema_keywords import known_keywords, unknown_keywords

# -- JSON Schema keyword typos ----------------------------------------------------------------


def test_a_required_typo_is_refused_at_import():
    router = Router()
    schema = {"type": "object", "requried": ["text"]}
    with pytest.raises(RouteConfigurationError) as caught:
        router.route("chat.send", schema=schema)(lambda request, body: None)
    assert str(caught.value).startswith(
        "Route 'chat.send': unknown JSON Schema keyword 'requried' at (root) "
        "(did you mean 'required'?)."
    )
    assert "chat.send" not in router.routes


def test_typos_in_nested_subschemas_are_found():
    schema = {
        "type": "object",
        "properties": {
            "items": {"type": "array", "items": {"type": "object", "propertis": {}}},
            "required": {"type": "string", "maxLenght": 3},  # a property named like a keyword
        },
        "anyOf": [{"minimum": 1}, {"exclusiveMaximun": 5}],
        "definitions": {"x": {"enumm": [1]}},
        "enum": [{"requried": "data, not a schema"}],
        "x-internal": True,
    }
    found = unknown_keywords(schema, Draft202012Validator)
    assert sorted(found) == [
        ("/anyOf/1", "exclusiveMaximun"),
        ("/definitions/x", "enumm"),
        ("/properties/items/items", "propertis"),
        ("/properties/required", "maxLenght"),
    ]


def test_every_keyword_of_the_dialect_is_known():
    # Read from the metaschemas, vocabularies included (2020-12 has no keywords of its own).
    for keyword in ("required", "properties", "$defs", "prefixItems", "unevaluatedProperties"):
        assert keyword in known_keywords(Draft202012Validator)
    for keyword in ("title", "description", "default", "examples", "format", "$comment"):
        assert keyword in known_keywords(Draft202012Validator)
    assert "prefixItems" not in known_keywords(Draft4Validator)


def test_a_draft_4_schema_is_judged_by_draft_4():
    router = Router()
    schema = {"$schema": "http://json-schema.org/draft-04/schema#", "prefixItems": []}
    with pytest.raises(RouteConfigurationError, match="unknown JSON Schema keyword 'prefixItems'"):
        router.route("x", schema=schema)(lambda request, body: None)


def test_a_correct_schema_is_accepted():
    router = Router()
    schema = {
        "type": "object",
        "required": ["text"],
        "properties": {"text": {"type": "string", "title": "Text", "maxLength": 10}},
        "additionalProperties": False,
    }
    router.route("chat.send", schema=schema)(lambda request, body: None)
    assert "chat.send" in router.routes


def test_a_hostile_schema_gives_a_short_message():
    schema: dict[str, Any] = {"type": "object"}
    schema.update({f"typo{i}": 1 for i in range(500)})
    with pytest.raises(RouteConfigurationError) as caught:
        Router().route("x", schema=schema)(lambda request, body: None)
    assert len(str(caught.value)) < 800


# -- a body annotated with a model the schema is not ------------------------------------------


@dataclasses.dataclass
class Point:
    x: int


def test_a_dataclass_annotation_with_a_dict_schema_is_refused():
    def handler(request, body: Point):
        return body.x

    with pytest.raises(RouteConfigurationError) as caught:
        Router().route("p", schema={"type": "object"})(handler)
    assert str(caught.value).startswith(
        "Route 'p': the handler's body is annotated Point, but the route has a JSON Schema dict "
        "as schema, so the handler would receive a dict, not a Point. Pass schema=Point"
    )


def test_a_model_annotation_with_no_schema_is_refused():
    def handler(request, body: Point):
        return body.x

    with pytest.raises(RouteConfigurationError, match="but the route has no schema"):
        Router().route("p")(handler)


try:
    from pydantic import BaseModel
except ImportError:  # the [pydantic] extra is not installed: its test is skipped
    BaseModel = object  # type: ignore[assignment,misc]


class ChatSend(BaseModel):
    text: str


class Other(BaseModel):
    text: str


def test_pydantic_model_annotations():
    pytest.importorskip("pydantic")

    def handler(request, body: ChatSend):
        return body.text

    with pytest.raises(RouteConfigurationError, match="but the route has schema=Other"):
        Router().route("a", schema=Other)(handler)
    with pytest.raises(RouteConfigurationError, match="annotated ChatSend, but the route has a"):
        Router().route("b", schema={"type": "object"})(handler)
    router = Router()
    router.route("c", schema=ChatSend)(handler)  # the right model: accepted, instance passed
    assert router.routes["c"].pass_instance


def test_dict_and_unannotated_bodies_are_fine():
    router = Router()
    router.route("a", schema={"type": "object"})(lambda request, body: None)

    def typed(request, body: dict):
        return None

    router.route("b", schema={"type": "object"})(typed)
    assert set(router.routes) == {"a", "b"}


# -- permission= naming no permission ---------------------------------------------------------


def test_a_permission_no_model_declares_is_an_error():
    router = Router()
    router.route("staff", permission="auth.view_usr")(lambda request, body: None)
    router.route("fine", permission="auth.view_user")(lambda request, body: None)
    router.route("noapp", permission="nosuchapp.do_it")(lambda request, body: None)
    found = permission_problems([router])
    assert [p.id for p in found] == ["ws_routes.E014", "ws_routes.E014"]
    assert found[0].msg.startswith(
        "Route 'staff' of <Router 'ws_routes': 3 routes>: permission='auth.view_usr' is "
        "declared by no installed model"
    )
    assert "auth.view_user" in found[0].hint
    assert "No installed app has the label 'nosuchapp'" in found[1].hint


urlpatterns: list[Any] = []


def test_the_check_reads_the_routers_the_urlconf_mounts(settings):
    mounted = Router(app_name="mounted")
    mounted.route("x", permission="auth.no_such_codename")(lambda request, body: None)
    urlpatterns[:] = [path("ws/", include(mounted.urls))]
    settings.ROOT_URLCONF = __name__
    assert mounted in checked_routers()
    with pytest.raises(Exception, match="auth.no_such_codename"):
        call_command("check")


def test_the_project_routers_pass():
    assert permission_problems(checked_routers()) == []


# -- unapplied migrations ---------------------------------------------------------------------


@pytest.mark.django_db
def test_migrations_applied_is_quiet():
    assert check_migrations_applied(databases=["default"]) == []


@pytest.mark.django_db
def test_unapplied_migrations_are_a_warning():
    from django.db import connection
    from django.db.migrations.recorder import MigrationRecorder

    latest = max(
        name
        for app, name in MigrationRecorder(connection).applied_migrations()
        if app == "ws_routes"
    )
    MigrationRecorder(connection).record_unapplied("ws_routes", latest)  # rolled back after
    (problem,) = check_migrations_applied(databases=["default"])
    assert problem.id == "ws_routes.W012"
    assert problem.msg == (
        f"Database 'default' lacks 1 ws_routes migration(s) ({latest}): connects fail with a "
        "500 until they are applied."
    )
    assert problem.hint == "Run: manage.py migrate ws_routes --database default"


def test_no_database_is_opened_by_a_plain_check():
    assert check_migrations_applied() == []
