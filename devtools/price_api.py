"""A local market-data API for tests and the offline demo.

Speaks the Cryptowat.ch shape with the recorded payloads from ``tests/fixtures/price-api-samples``:
the price moves with time, every response carries the ``allowance`` object (errors included),
unknown markets get the recorded 404 body, and a spent allowance gets HTTP 429.

Run it alone with ``python -m devtools.price_api --port 8765``; tests start it in a thread with
:func:`serve`. ``latency`` delays every answer (for the fan-out benchmark); ``requests`` records
what was asked (path and headers) so tests can check what the producer sent.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

SAMPLES = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "price-api-samples"

BASE_PRICES: dict[str, Decimal] = {
    "btcusd": Decimal("24063.4"),
    "btceur": Decimal("22110.5"),
    "ethusd": Decimal("1650.25"),
    "etheur": Decimal("1519.80"),
    "ltcusd": Decimal("64.12"),
    "xrpusd": Decimal("0.5123"),
    "solusd": Decimal("21.37"),
    "adausd": Decimal("0.2611"),
    "dogeusd": Decimal("0.06312"),
    "dotusd": Decimal("4.581"),
}
"""The pairs this server knows; anything else is 'Instrument not found'."""


def sample(name: str) -> Any:
    return json.loads((SAMPLES / name).read_text())


@dataclass
class ApiState:
    """What the server serves, shared by its handler threads; tests adjust it between calls."""

    latency: float = 0.0
    allowance_remaining: Decimal = Decimal("10")
    allowance_cost: Decimal = Decimal("0.005")
    prices: dict[str, Decimal] = field(default_factory=lambda: dict(BASE_PRICES))
    requests: list[dict[str, Any]] = field(default_factory=list)
    served: list[dict[str, Any]] = field(default_factory=list)
    """Every answered body with its path, so tests can compare stored rows with what was served."""
    lock: threading.Lock = field(default_factory=threading.Lock)

    def price_now(self, pair: str) -> Decimal:
        """A price that drifts by up to 1 % over minutes, so consecutive rows differ."""
        drift = Decimal(str(round(math.sin(time.time() / 37.0) / 100, 6)))
        return (self.prices[pair] * (1 + drift)).quantize(self.prices[pair])

    def charge(self) -> dict[str, Any] | None:
        """Take one call's cost from the allowance; the allowance object, or None when it is spent."""
        with self.lock:
            if self.allowance_remaining < self.allowance_cost:
                return None
            self.allowance_remaining -= self.allowance_cost
            allowance = copy.deepcopy(sample("cryptowatch_price.json")["allowance"])
            allowance["cost"] = float(self.allowance_cost)
            allowance["remaining"] = float(self.allowance_remaining)
            return allowance


class PriceApiHandler(BaseHTTPRequestHandler):
    server: PriceApiServer

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: tests read ``state.requests`` instead."""

    def send_json(self, status: int, body: Any) -> None:
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)
        with self.server.state.lock:
            self.server.state.served.append({"path": self.path, "status": status, "body": body})

    def do_GET(self) -> None:
        state = self.server.state
        with state.lock:
            state.requests.append({"path": self.path, "headers": dict(self.headers)})
        if state.latency:
            time.sleep(state.latency)
        parts = self.path.split("?")[0].strip("/").split("/")
        if len(parts) == 4 and parts[0] == "markets" and parts[3] == "price":
            self.cryptowatch_price(exchange=parts[1], pair=parts[2])
        else:
            self.send_json(404, {"error": "Route not found"})

    def cryptowatch_price(self, exchange: str, pair: str) -> None:
        state = self.server.state
        allowance = state.charge()
        if allowance is None:
            self.send_json(429, {"error": "Out of allowance", "allowance": {"cost": 0, "remaining": 0}})
            return
        if pair not in state.prices:
            body = sample("cryptowatch_error_notfound.json")
            body["allowance"] = allowance
            self.send_json(404, body)
            return
        body = sample("cryptowatch_price.json")
        body["result"]["price"] = float(state.price_now(pair))
        body["allowance"] = allowance
        self.send_json(200, body)


class PriceApiServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], state: ApiState) -> None:
        super().__init__(address, PriceApiHandler)
        self.state = state

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"


@contextmanager
def serve(state: ApiState | None = None, port: int = 0) -> Iterator[PriceApiServer]:
    """Run the API on 127.0.0.1 (a free port by default) in a thread for the ``with`` block."""
    server = PriceApiServer(("127.0.0.1", port), state or ApiState())
    thread = threading.Thread(target=server.serve_forever, name="price-api", daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added to every answer")
    args = parser.parse_args()
    server = PriceApiServer(("127.0.0.1", args.port), ApiState(latency=args.latency))
    print(f"price API at {server.url}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
