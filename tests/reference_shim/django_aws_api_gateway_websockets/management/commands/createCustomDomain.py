from ws_routes.management.commands.createCustomDomain import *  # noqa: F401,F403
from ws_routes.management.commands.createCustomDomain import Command  # noqa: F401
