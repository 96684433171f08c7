"""The SQL that spends a one-time connect token in one write, and puts it back.

``DELETE ... RETURNING`` (PostgreSQL, SQLite 3.35+) makes the first statement of a token connect
a write: racing connects then queue on the lock instead of one failing as a reader that wants to
write (SQLite's "database is locked" under ``ATOMIC_REQUESTS``).
"""

from __future__ import annotations

from typing import Any, NamedTuple


class SpentToken(NamedTuple):
    """A token ``ConnectToken.spend`` deleted, as stored, so a refused connect can
    ``restore()`` it."""

    model: Any
    alias: str
    token_hash: str
    user_id: Any
    created_at: Any
    expires_at: Any

    def restore(self) -> None:
        """Put the token back (its connect was refused after it was spent)."""
        from django.db import connections

        connection = connections[self.alias]
        fields = [self.model._meta.get_field(name) for name in ("token_hash", "user", "created_at")]
        columns = [field.column for field in fields] + [
            self.model._meta.get_field("expires_at").column
        ]
        quote = connection.ops.quote_name
        sql = (
            f"INSERT INTO {quote(self.model._meta.db_table)} "
            f"({', '.join(quote(column) for column in columns)}) VALUES (%s, %s, %s, %s)"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, [self.token_hash, self.user_id, self.created_at, self.expires_at])


def delete_returning(
    connection: Any, model: Any, token_hash: str, now: Any
) -> tuple[Any, ...] | None:
    """``DELETE`` the unexpired token ``token_hash``, returning its stored columns, or None."""
    meta = model._meta
    quote = connection.ops.quote_name
    hash_column = quote(meta.get_field("token_hash").column)
    expires = quote(meta.get_field("expires_at").column)
    returned = ", ".join(
        quote(meta.get_field(name).column) for name in ("user", "created_at", "expires_at")
    )
    sql = (
        f"DELETE FROM {quote(meta.db_table)} WHERE {hash_column} = %s AND {expires} > %s "
        f"RETURNING {returned}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [token_hash, connection.ops.adapt_datetimefield_value(now)])
        row = cursor.fetchone()
    return None if row is None else tuple(row)
