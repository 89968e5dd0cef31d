"""The project's PostgreSQL hook: the provider's ``PostgresHook`` plus inline TLS PEMs and bounded waits.

Two connection forms reach it:

- conn_type ``postgres`` (local runs, or TLS with file paths): host, port, login, password, schema
  and libpq settings in the extra (``sslmode``, ``sslrootcert``, ``sslcert``, ``sslkey`` ...). The
  stock ``PostgresHook`` takes the same connection unchanged.
- conn_type ``franz_ivan_postgres`` (Aiven, secrets held as text): the same, with the CA, client
  certificate and key inline as PEM (``sslrootcert_pem``, ``sslcert_pem``, ``sslkey_pem``). The
  ``franz-ivan`` distribution registers this hook for that type (:mod:`franz_ivan.get_provider_info`), so
  ``conn.get_hook()`` returns it and the stock SQL operators, the check operators and the UI's
  Test button work on the connection.

A ``postgres`` connection holding ``*_pem`` settings is the old form: the stock hook hands them to
libpq, which refuses them ("invalid connection option"); this hook refuses it naming the fix.

Secrets never appear in errors: they name the connection and the setting, not its value.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psycopg
from airflow.providers.postgres.hooks.postgres import PostgresHook

from franz_ivan.hooks.checks import CONNECTION_TYPE, INLINE_PEM_SETTINGS, CredentialsError, check_pem
from franz_ivan.settings import POSTGRES_CONN_ID

if TYPE_CHECKING:
    from airflow.sdk import Connection

STOCK_CONNECTION_TYPE = "postgres"
DEFAULT_DATABASE = "crypto_prices"
POSTGRES_CONNECT_TIMEOUT_SECONDS = 10
CONNECTION_DEFAULTS: dict[str, Any] = {
    "connect_timeout": POSTGRES_CONNECT_TIMEOUT_SECONDS,
    "application_name": "franz-ivan",
    # A server that vanishes mid-drain is noticed within about a minute, not hours.
    "keepalives": 1,
    "keepalives_idle": 30,
    "keepalives_interval": 10,
    "keepalives_count": 3,
}
"""libpq settings the connection's extra may override."""

CONVERT_HINT = (
    "convert it with 'python -m devtools.aiven_connections convert' (docs/connections.md), "
    f"or set its conn_type to {CONNECTION_TYPE!r}"
)

POSTGRES_TLS_HINTS = (
    (
        "certificate verify failed",
        "the server's certificate is not signed by the CA in sslrootcert_pem/sslrootcert "
        "(Aiven: the service's ca.pem)",
    ),
    ("does not match host name", "connect to the host name the server's certificate was issued for"),
    (
        "requires a valid client certificate",
        "the server requires a client certificate: set sslcert_pem and sslkey_pem (or sslcert and sslkey)",
    ),
    ("certificate expired", "the server rejected the client certificate as expired: issue a new one"),
)


def check_postgres_connection(conn: Connection) -> None:
    """Raise :class:`CredentialsError` naming what is wrong with ``conn``'s form; the values stay unsaid."""
    extra = conn.extra_dejson
    inline = [setting for setting in INLINE_PEM_SETTINGS if setting in extra]
    if inline and conn.conn_type != CONNECTION_TYPE:
        raise CredentialsError(
            f"PostgreSQL connection {conn.conn_id!r} holds inline PEM ({', '.join(inline)}) under "
            f"conn_type {conn.conn_type!r}, which the stock PostgresHook passes to libpq, and libpq "
            f"refuses ('invalid connection option'); {CONVERT_HINT}"
        )
    if not conn.host:
        raise CredentialsError(f"PostgreSQL connection {conn.conn_id!r} has no host")
    for setting, (file_setting, kind) in INLINE_PEM_SETTINGS.items():
        if setting not in extra:
            continue
        check_pem(extra[setting], kind, setting, conn.conn_id)
        if extra.get(file_setting):
            raise CredentialsError(
                f"PostgreSQL connection {conn.conn_id!r} sets both {setting!r} and {file_setting!r}; keep one"
            )
    if bool(extra.get("sslcert_pem") or extra.get("sslcert")) != bool(
        extra.get("sslkey_pem") or extra.get("sslkey")
    ):
        raise CredentialsError(
            f"PostgreSQL connection {conn.conn_id!r} has only one of the client certificate "
            "(sslcert_pem/sslcert) and its key (sslkey_pem/sslkey); a client certificate needs both"
        )


def with_defaults(conn_args: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """``conn_args`` (what ``PostgresHook.get_conn`` built) with the project's defaults filled in.

    The database defaults to ``crypto_prices``; a CA without an ``sslmode`` means ``verify-full``.
    """
    args = {**CONNECTION_DEFAULTS, **{key: value for key, value in conn_args.items() if value is not None}}
    args["dbname"] = args.get("dbname") or DEFAULT_DATABASE
    args["port"] = args.get("port") or 5432
    if "sslmode" not in args and (extra.get("sslrootcert_pem") or extra.get("sslrootcert")):
        args["sslmode"] = "verify-full"
    return args


@contextmanager
def inline_pem_files(conn: Connection) -> Iterator[dict[str, str]]:
    """Write the connection's inline PEMs to private files; yield ``{libpq setting: path}``; delete them.

    The folder is made by :func:`tempfile.mkdtemp` (mode 0700) and each file is created new with
    mode 0600, which libpq requires of a key file. libpq reads the files while it connects only.
    """
    extra = conn.extra_dejson
    inline = {setting: extra[setting] for setting in INLINE_PEM_SETTINGS if extra.get(setting)}
    if not inline:
        yield {}
        return
    folder = Path(tempfile.mkdtemp(prefix="franz-ivan-libpq-"))
    try:
        paths: dict[str, str] = {}
        for setting, text in inline.items():
            path = folder / setting
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(descriptor, "w") as file:
                file.write(text)
            paths[INLINE_PEM_SETTINGS[setting][0]] = str(path)
        yield paths
    finally:
        shutil.rmtree(folder, ignore_errors=True)


class PricesPostgresHook(PostgresHook):
    """``PostgresHook`` for ``postgres`` and ``franz_ivan_postgres`` connections (inline PEMs).

    What it adds to the provider's hook, used by every stock SQL operator through ``get_hook()``:
    the connection's form checked first (old form, PEM shape, half a client certificate), inline
    PEMs written to private files for the length of the connect, bounded connect and keepalive
    settings, the ``crypto_prices`` database by default, and connect errors that name the
    connection, the server and the TLS problem without the file paths or secrets.

    :param postgres_conn_id: the Airflow connection, ``crypto_prices_postgres`` by default.
    """

    conn_type = CONNECTION_TYPE
    hook_name = "PostgreSQL (TLS PEMs inline)"
    default_conn_name = POSTGRES_CONN_ID
    ignored_extra_options = PostgresHook.ignored_extra_options | set(INLINE_PEM_SETTINGS)

    @classmethod
    def for_connection(cls, conn: Connection) -> PricesPostgresHook:
        """The hook of a connection object in hand (one not looked up by id: made by a helper, say)."""
        return cls(postgres_conn_id=conn.conn_id, connection=conn)

    def get_conn(self) -> Any:
        """Open a psycopg connection (autocommit off; use it in ``with``), or raise naming the problem."""
        check_postgres_connection(self.connection)
        return super().get_conn()

    def connect_kwargs(self) -> dict[str, Any]:
        """The libpq settings this hook connects with, inline PEMs aside (they become files)."""
        conn = self.connection
        check_postgres_connection(conn)
        args: dict[str, Any] = {
            "host": conn.host,
            "user": conn.login,
            "password": conn.password,
            "dbname": self.database or conn.schema,
            "port": conn.port,
        }
        args |= {
            key: value for key, value in conn.extra_dejson.items() if key not in self.ignored_extra_options
        }
        return with_defaults(args, conn.extra_dejson)

    def _create_connection(self, conn_args: dict[str, Any]) -> Any:
        conn = self.connection
        args = with_defaults(conn_args, conn.extra_dejson)
        with inline_pem_files(conn) as pem_files:
            try:
                return super()._create_connection({**args, **pem_files})
            except psycopg.OperationalError as error:
                message = str(error).strip()
                for file_setting, path in pem_files.items():
                    message = message.replace(path, f"<{file_setting}_pem>")
                hints = [hint for phrase, hint in POSTGRES_TLS_HINTS if phrase in message]
                raise ConnectionError(
                    f"cannot connect to PostgreSQL of connection {conn.conn_id!r} "
                    f"({args['host']}:{args['port']}/{args['dbname']}, "
                    f"sslmode={args.get('sslmode', 'prefer')}): {message}"
                    + "".join(f"; {hint}" for hint in hints)
                ) from None

    def test_connection(self) -> tuple[bool, str]:  # type: ignore[override]  # the base is unannotated
        """The UI's Test button: ``select 1`` over a new connection; on failure, what went wrong."""
        try:
            with self.get_conn() as connection:
                connection.execute("SELECT 1")
        except (CredentialsError, ConnectionError) as error:
            return False, str(error)
        return True, f"Connected to PostgreSQL of connection {self.get_conn_id()!r}"
