"""The FastAPI app behind the "Crypto prices" page, mounted by Airflow's api-server at ``/crypto-prices``.

Access: every route, the page and its static files included, depends on Airflow's own
``requires_access_view(AccessView.WEBSITE)``. It resolves the user from the ``Authorization: Bearer``
JWT or, as for the UI's iframe, the ``_token`` cookie the login sets, through the configured auth
manager; no token gives 401, an invalid one 403, and a user without access to the website 403.

Read-only: only ``GET`` routes exist, and the database session is read-only with a statement
timeout, so even a bug here cannot write. Parameters are checked before any query (see
:mod:`franz_ivan.ui.page_params`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from airflow.api_fastapi.auth.managers.models.resource_details import AccessView
from airflow.api_fastapi.core_api.security import requires_access_view
from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import FileResponse, JSONResponse

from franz_ivan.hooks.checks import CredentialsError
from franz_ivan.hooks.postgres import PricesPostgresHook
from franz_ivan.kafka_topics import DrainError
from franz_ivan.settings import CONSUMER_GROUP, KAFKA_CONN_ID, POSTGRES_CONN_ID, settings
from franz_ivan.ui import page_data
from franz_ivan.ui.page_params import ParameterError, parse_pair, parse_range, refuse_unknown

if TYPE_CHECKING:
    import psycopg

STATIC_DIR: Final = Path(__file__).resolve().parent / "static"
STATIC_FILES: Final = {
    "crypto_prices.js": "text/javascript",
    "crypto_prices.css": "text/css",
    "uPlot.iife.min.js": "text/javascript",
    "uPlot.min.css": "text/css",
    "uPlot.LICENSE": "text/plain",
}
"""Exactly what the page loads: no directory listing, no path from the request reaches the disk."""
STATEMENT_TIMEOUT_MS: Final = 10_000
SECURITY_HEADERS: Final = {
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
    "Content-Security-Policy": (
        "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'self'"
    ),
}


@contextmanager
def read_only_connection() -> Iterator[psycopg.Connection]:
    """A session on the project's PostgreSQL connection that cannot write and cannot run long."""

    with PricesPostgresHook(POSTGRES_CONN_ID).get_conn() as conn:
        conn.read_only = True
        conn.execute("SELECT set_config('statement_timeout', %s, false)", (str(STATEMENT_TIMEOUT_MS),))
        yield conn


def checked_params(request: Request, allowed: tuple[str, ...]) -> dict[str, str]:
    """The query parameters, refusing unknown and repeated ones (422 naming them)."""
    params = request.query_params
    try:
        refuse_unknown(params.keys(), allowed)
    except ParameterError as error:
        raise HTTPException(422, str(error)) from None
    for name in allowed:
        if len(params.getlist(name)) > 1:
            raise HTTPException(422, f"query parameter {name!r} is given more than once")
    return dict(params)


def answer(produce: Callable[[], dict[str, Any]]) -> JSONResponse:
    """Run ``produce`` and turn the errors the page can explain into 4xx/5xx naming the problem."""

    try:
        body = produce()
    except ParameterError as error:
        raise HTTPException(422, str(error)) from None
    except page_data.UnknownPairError as error:
        raise HTTPException(404, str(error)) from None
    except (page_data.PageDataError, DrainError, CredentialsError, ConnectionError) as error:
        raise HTTPException(503, str(error)) from None
    return JSONResponse(body, headers=SECURITY_HEADERS)


def overview() -> dict[str, Any]:
    now = datetime.now(UTC)
    with read_only_connection() as conn:
        pairs = page_data.price_tables(conn)
        return {
            "generated_at": now.isoformat(),
            "pairs": pairs,
            "freshness": page_data.freshness(conn, pairs, now),
            "allowance": page_data.allowance(conn, now),
            "dead_letters_24h": page_data.dead_letters(conn, now),
            "failing_checks": page_data.failing_checks(conn),
        }


def prices(pair: str, range_name: str) -> dict[str, Any]:
    chart_range = parse_range(range_name)
    valid_pair = parse_pair(pair)
    with read_only_connection() as conn:
        return page_data.price_series(conn, valid_pair, chart_range, datetime.now(UTC))


def lag() -> dict[str, Any]:
    with read_only_connection() as conn:
        return page_data.consumer_lag(conn, KAFKA_CONN_ID, settings().topic, CONSUMER_GROUP)


def create_app() -> FastAPI:
    """The page, its static files and its JSON API, each behind Airflow's login."""

    app = FastAPI(
        title="Crypto prices",
        description="Prices, freshness, allowance, dead letters and consumer lag of franz-ivan (read-only).",
        dependencies=[Depends(requires_access_view(AccessView.WEBSITE))],
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )

    @app.get("/", include_in_schema=False)
    def page(request: Request) -> FileResponse:
        checked_params(request, ())
        return FileResponse(STATIC_DIR / "index.html", media_type="text/html", headers=SECURITY_HEADERS)

    @app.get("/static/{name}", include_in_schema=False)
    def static(name: str) -> FileResponse:
        media_type = STATIC_FILES.get(name)
        if media_type is None:
            raise HTTPException(404, f"no static file {name[:64]!r}; the page has {', '.join(STATIC_FILES)}")
        return FileResponse(STATIC_DIR / name, media_type=media_type, headers=SECURITY_HEADERS)

    @app.get("/api/overview")
    def get_overview(request: Request) -> JSONResponse:
        """Pairs, freshness per market, allowance per source, dead letters (24 h), failing checks."""
        checked_params(request, ())
        return answer(overview)

    @app.get("/api/prices")
    def get_prices(request: Request) -> JSONResponse:
        """One pair's downsampled prices: ``?pair=btcusd&range=1h`` (``1h``, ``24h`` or ``7d``)."""
        params = checked_params(request, ("pair", "range"))
        if "pair" not in params:
            raise HTTPException(422, "query parameter 'pair' is required, like pair=btcusd")
        return answer(lambda: prices(params["pair"], params.get("range", "1h")))

    @app.get("/api/lag")
    def get_lag(request: Request) -> JSONResponse:
        """Events in the topic not stored yet, per partition."""
        checked_params(request, ())
        return answer(lag)

    return app
