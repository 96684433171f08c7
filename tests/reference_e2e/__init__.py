"""A Django project of the reference package itself, run in ``.venv-reference`` (README.md)."""
