from ws_routes.management.commands.createApiGateway import *  # noqa: F401,F403
from ws_routes.management.commands.createApiGateway import Command  # noqa: F401
