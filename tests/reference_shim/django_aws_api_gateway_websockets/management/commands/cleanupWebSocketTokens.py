from ws_routes.management.commands.cleanupWebSocketTokens import *  # noqa: F401,F403
from ws_routes.management.commands.cleanupWebSocketTokens import Command  # noqa: F401
