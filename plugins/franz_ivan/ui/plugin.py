"""Adds "Crypto prices" to the Airflow UI's navigation: prices, freshness, allowance, dead letters, lag.

The api-server mounts the plugin's app at ``/crypto-prices``; the UI shows its page in a frame at
``/plugin/crypto-prices``. The app lives in :mod:`franz_ivan.ui.page_app`; see ``docs/ui.md``.
Airflow finds the plugin through the distribution's ``airflow.plugins`` entry point (and lists it
from :mod:`franz_ivan.get_provider_info`), not through its plugins folder.
"""

from __future__ import annotations

from typing import Any

from airflow.plugins_manager import AirflowPlugin

URL_PREFIX = "/crypto-prices"


class PageApp:
    """The page's ASGI app, built on its first request.

    Every task process loads the plugins too (for macros); building the FastAPI app there would
    import the api-server's security layer, seconds of work no task needs.
    """

    def __init__(self) -> None:
        self._app: Any = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if self._app is None:
            from franz_ivan.ui.page_app import create_app

            self._app = create_app()
        await self._app(scope, receive, send)


class CryptoPricesUiPlugin(AirflowPlugin):
    """The page (an external view in the navigation) and the JSON API behind it."""

    name = "crypto_prices_ui"
    # Lists as class attributes are how AirflowPlugin declares its parts (ClassVar clashes with its typing).
    fastapi_apps = [{"name": "crypto_prices_ui", "app": PageApp(), "url_prefix": URL_PREFIX}]  # noqa: RUF012
    external_views = [  # noqa: RUF012
        {
            "name": "Crypto prices",
            "href": f"{URL_PREFIX}/",
            "url_route": "crypto-prices",
            "destination": "nav",
            "nav_top_level": True,
        }
    ]
