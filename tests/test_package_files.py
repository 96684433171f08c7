"""The files the package ships besides code are found where Django looks for them.

``make wheel-check`` runs this against the installed wheel (not the checkout): a static file,
template or migration left out of the package data fails here, not on a user's machine.
"""

from __future__ import annotations

from importlib import resources

import pytest
from django.contrib.staticfiles import finders
from django.db.migrations.loader import MigrationLoader
from django.template.loader import get_template

STATIC = ["ws_routes/ws-routes.js"]
TEMPLATES = [
    "ws_routes/asyncapi.html",
    "ws_routes_admin/_action_page.html",
    "ws_routes_admin/_selection.html",
    "ws_routes_admin/rotate_secret.html",
    "ws_routes_admin/send_message.html",
    "ws_routes_admin/sync_routes.html",
]


@pytest.mark.parametrize("name", STATIC)
def test_static_files_are_found(name):
    assert finders.find(name), f"{name} is not shipped"


@pytest.mark.parametrize("name", TEMPLATES)
def test_templates_are_found(name):
    assert get_template(name) is not None


def test_every_shipped_template_and_static_file_is_listed():
    # A new file under templates/ or static/ must be added to the lists above (and so checked).
    shipped = set()
    for package, folder in (("ws_routes", "templates"), ("contrib_admin", "templates")):
        root = resources.files(package) / folder
        shipped |= {f"{sub.name}/{item.name}" for sub in root.iterdir() for item in sub.iterdir()}
    static = resources.files("ws_routes") / "static"
    shipped_static = {
        f"{sub.name}/{item.name}" for sub in static.iterdir() for item in sub.iterdir()
    }
    assert shipped == set(TEMPLATES) and shipped_static == set(STATIC)


def test_the_migrations_are_shipped_and_typed_marker_too():
    loader = MigrationLoader(None, ignore_no_migrations=True)
    names = sorted(name for app, name in loader.disk_migrations if app == "ws_routes")
    assert names and names[0] == "0001_initial"
    assert len(names) == int(names[-1][:4]), f"a migration is missing: {names}"
    assert (resources.files("ws_routes") / "py.typed").is_file()
