"""Adds "Crypto prices" to the Airflow UI's navigation: prices, freshness, allowance, dead letters, lag.

The api-server mounts the plugin's FastAPI app at ``/crypto-prices``; the UI shows its page in a frame
at ``/plugin/crypto-prices``. The app itself lives in :mod:`franz_ivan.ui.page_app`; see ``docs/ui.md``.
"""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from franz_ivan.ui.page_app import URL_PREFIX, create_app


class CryptoPricesUiPlugin(AirflowPlugin):
    """The page (an external view in the navigation) and the JSON API behind it."""

    name = "crypto_prices_ui"
    # Lists as class attributes are how AirflowPlugin declares its parts (ClassVar clashes with its typing).
    fastapi_apps = [  # noqa: RUF012
        {"name": "crypto_prices_ui", "app": create_app(), "url_prefix": URL_PREFIX}
    ]
    external_views = [  # noqa: RUF012
        {
            "name": "Crypto prices",
            "href": f"{URL_PREFIX}/",
            "url_route": "crypto-prices",
            "destination": "nav",
            "nav_top_level": True,
        }
    ]
