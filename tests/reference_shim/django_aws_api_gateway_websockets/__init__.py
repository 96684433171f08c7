"""Import shim: the reference package's module names, answered by ws_routes (see README.md)."""
