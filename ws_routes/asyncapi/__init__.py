"""The route registry as an AsyncAPI 3.0 document (``manage.py wsschema``, ``asyncapi_urls``).

Example::

    from ws_routes.asyncapi import build_document, to_yaml
    print(to_yaml(build_document(router)))
"""

from .document import build_document, gateway_servers
from .views import asyncapi_urls
from .yaml import to_yaml

__all__ = ["asyncapi_urls", "build_document", "gateway_servers", "to_yaml"]
