from ws_routes.management.commands.clearWebSocketSessions import *  # noqa: F401,F403
from ws_routes.management.commands.clearWebSocketSessions import Command  # noqa: F401
