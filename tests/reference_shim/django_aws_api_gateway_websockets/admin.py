"""No ws_routes counterpart is re-exported for the reference's `admin` module."""

from .shim import missing_names

__getattr__ = missing_names(__name__)
