"""A router with channel rules for the channel tests (prefixes of its own: rules are global)."""

from __future__ import annotations

from datetime import timedelta

from ws_routes import Router, WsError
from ws_routes.channels import enable_channel_routes

router = Router(app_name="channel_tests")
enable_channel_routes(router)
JOINS: list[tuple[str, str]] = []


@router.channel("croom:{name}", presence=True)
def may_join_room(request, name):
    JOINS.append((request.user.get_username(), name))
    if name == "closed":
        return False
    if name == "staff":
        raise WsError("staff_only", "Staff only")
    return request.user.is_authenticated


@router.channel("chist:{name}", history=5)
def may_join_history(request, name):
    return True


@router.channel("cage:{name}", history_age=timedelta(minutes=5))
def may_join_aged(request, name):
    return True


@router.channel("cbig:{name}", history=1000, presence=True)
def may_join_big(request, name):
    return True


router.add_channel("cpublic")
