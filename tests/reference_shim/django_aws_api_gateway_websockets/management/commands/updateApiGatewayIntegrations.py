from ws_routes.management.commands.updateApiGatewayIntegrations import *  # noqa: F401,F403
from ws_routes.management.commands.updateApiGatewayIntegrations import Command  # noqa: F401
