"""The WSGI application ``wsgi_dispatch.py`` has gunicorn serve: one contender's view.

    BENCH_WSGI_LIB=ours BENCH_WSGI_DB=sqlite:/tmp/w.sqlite3 BENCH_WSGI_REQUEST=/tmp/req.json \\
        gunicorn --preload --workers 2 --chdir bench wsgi_app:application

Loaded once in gunicorn's master (``--preload``): configures Django exactly as the in-process
benchmark does (``common.configure``, ``dispatch.BUILDERS``: same settings, database rows, views),
then closes every database connection so that each forked worker opens its own. The request that
view expects (path, body, headers) is written to ``BENCH_WSGI_REQUEST`` for the load generator.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402
import dispatch  # noqa: E402
import floor  # noqa: E402
import floor_views  # noqa: E402

LIB = os.environ["BENCH_WSGI_LIB"]
common.configure(dispatch.settings_for(LIB), os.environ["BENCH_WSGI_DB"], urlconf=__name__)
if LIB == floor_views.PAIR:
    # floor_wsgi.py: ours and the one-round-trip floor in one app, checked before forking
    floor.quiet_logging()
    urlpatterns, requests = floor_views.build()
    floor.verify(floor.Poster(), requests)
    url, body, meta = "/ws/", json.loads(requests["ours"]["body"]), requests["ours"]["meta"]
else:
    urlpatterns, url, body, meta = dispatch.BUILDERS[LIB]()
    requests = {}


def header_name(meta_key: str) -> str:
    """``HTTP_X_WS_STAGE`` -> ``X-Ws-Stage``: the header a client sends for a ``request.META`` key.

    Lossless here because no benchmark header has an underscore in its name (gunicorn drops such
    headers by default, as does Django's runserver).
    """
    return "-".join(part.capitalize() for part in meta_key.removeprefix("HTTP_").split("_"))


Path(os.environ["BENCH_WSGI_REQUEST"]).write_text(
    json.dumps(
        {
            "path": url,
            "body": json.dumps(body),
            "headers": {header_name(key): value for key, value in meta.items()},
            "all": {
                name: {
                    "path": request["path"],
                    "body": request["body"].decode(),
                    "headers": {header_name(k): v for k, v in request["meta"].items()},
                    "status": request["status"],
                }
                for name, request in requests.items()
            },
        }
    )
)

from django.core.wsgi import get_wsgi_application  # noqa: E402
from django.db import connections  # noqa: E402

connections.close_all()  # no connection may be shared by the forked workers
application = get_wsgi_application()
