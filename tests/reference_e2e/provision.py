"""Migrate, log a user in, and run the reference's ``create_gateway()`` (prints JSON).

``python provision.py http://127.0.0.1:PORT/ws/`` with ``AWS_ENDPOINT_URL_APIGATEWAYV2``
pointing at the local gateway's control plane.
"""

import json
import sys

import django

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.contrib.sessions.backends.db import SessionStore  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django_aws_api_gateway_websockets.models import ApiGateway  # noqa: E402

call_command("migrate", verbosity=0)
user = get_user_model().objects.create_user("alice", password="not-used-here")
session = SessionStore()
session["_auth_user_id"] = str(user.pk)
session["_auth_user_backend"] = "django.contrib.auth.backends.ModelBackend"
session["_auth_user_hash"] = user.get_session_auth_hash()
session.create()
gateway = ApiGateway(api_name="reference-e2e", target_base_endpoint=sys.argv[1])
gateway.create_gateway()
gateway.refresh_from_db()
print(
    json.dumps(
        {
            "api_id": gateway.api_id,
            "stage": gateway.stage_name,
            "status": str(gateway.provisioning_status),
            "sessionid": session.session_key,
        }
    )
)
