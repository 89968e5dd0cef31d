"""How one source is asked within one task: at its pace, within the task's time, above its allowance floor.

All fetches of one source in one task share one :class:`SourcePacer`:

- A rate-limit answer (HTTP 429 or 418, Kraken's throttle errors) pauses *every* fetch of the
  source, not just the one that got it: for the ``Retry-After`` the source gave (plus up to 10 %
  jitter), else for an exponential backoff with jitter: ``CRYPTO_PRICES_BACKOFF_BASE`` (default
  1 s) doubled per attempt, capped at 30 s, a random time between half and all of it.
- A market is asked at most ``CRYPTO_PRICES_FETCH_ATTEMPTS`` times (default 4), and no wait may
  end later than ``CRYPTO_PRICES_FETCH_BUDGET`` seconds (default 45) after fetching began, which
  leaves the rest of the task's two minutes to publishing. A wait that would is not started: the
  market fails at once, saying so.
- When the latest allowance report of the source leaves less than its floor
  (``CRYPTO_PRICES_<SOURCE>_ALLOWANCE_FLOOR``; defaults: Cryptowatch 0.5 credits, Binance 600
  request weight), its markets not yet asked are skipped this run with a warning.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import KW_ONLY, dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Final, Protocol, TypeVar

from franz_ivan.limits import PacingSettings
from franz_ivan.settings import allowance_floor_env
from franz_ivan.sources.base import Allowance, RateLimitedError, SourceError

if TYPE_CHECKING:
    from franz_ivan.events import Market

log = logging.getLogger(__name__)


class Answer(Protocol):
    """What a fetch gives: a :class:`Quote`, or a page of candles; either may report the allowance."""

    @property
    def allowance(self) -> Allowance | None: ...


AnswerT = TypeVar("AnswerT", bound=Answer)

MAX_BACKOFF_SECONDS: Final = 30.0
RETRY_AFTER_JITTER: Final = 0.1


@dataclass
class SourcePacer:
    """One source's shared pause, deadline and latest allowance report; safe to share between threads.

    :param source: the source's name, for messages.
    :param settings: the bounds on asking it.
    :param floor: least allowance left for the source to be asked.
    :param clock: monotonic seconds; ``sleep`` and ``jitter`` (a random factor in a range) are
        replaceable so that the backoff arithmetic can be tested without waiting.
    """

    source: str
    settings: PacingSettings
    floor: Decimal
    _: KW_ONLY
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    jitter: Callable[[float, float], float] = random.uniform
    _deadline: float = field(init=False)
    _resume_at: float = field(init=False)
    _allowance: Allowance | None = field(init=False, default=None)
    _lock: threading.Lock = field(init=False, default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self._deadline = self.clock() + self.settings.budget
        self._resume_at = self.clock()

    def record(self, allowance: Allowance | None) -> None:
        """Keep the source's latest allowance report."""
        if allowance is not None:
            with self._lock:
                self._allowance = allowance

    def shortfall(self) -> str | None:
        """Why the source is to be spared for the rest of this run, or None while it has enough left."""
        with self._lock:
            allowance = self._allowance
        if allowance is None:
            return None
        left = allowance.remaining + (allowance.remaining_paid or 0)
        if left >= self.floor:
            return None
        return (
            f"{self.source} reports {left} allowance left, below the floor of {self.floor} "
            f"({allowance_floor_env(self.source)})"
        )

    def delay(self, error: RateLimitedError, attempt: int) -> float:
        """The pause after ``attempt`` got ``error``: what the source asked for, else a jittered backoff."""
        if error.retry_after:
            return error.retry_after + self.jitter(0.0, error.retry_after * RETRY_AFTER_JITTER)
        ceiling = min(MAX_BACKOFF_SECONDS, self.settings.backoff_base * 2 ** (attempt - 1))
        return self.jitter(ceiling / 2, ceiling)

    def pause(self, market: Market, error: RateLimitedError, attempt: int) -> None:
        """Pause every fetch of the source after ``error``, or fail ``market`` if that overruns the budget."""
        delay = self.delay(error, attempt)
        now = self.clock()
        if now + delay > self._deadline:
            raise SourceError(
                market,
                f"{error.problem}; waiting {delay:.1f} s more would overrun the "
                f"{self.settings.budget:g} s fetch budget (CRYPTO_PRICES_FETCH_BUDGET)",
                allowance=error.allowance,
            )
        with self._lock:
            self._resume_at = max(self._resume_at, now + delay)
        log.warning(
            "%s: %s; pausing %s for %.1f s (attempt %d)", market, error.problem, self.source, delay, attempt
        )

    def wait_turn(self) -> None:
        """Return once the source is not paused (another fetch may lengthen the pause meanwhile)."""
        while True:
            with self._lock:
                remaining = self._resume_at - self.clock()
            if remaining <= 0:
                return
            self.sleep(remaining)

    def fetch(self, market: Market, call: Callable[[], AnswerT]) -> AnswerT:
        """``call()`` at the source's pace, again after rate limiting, within the attempts and the budget."""
        attempt = 1
        while True:
            self.wait_turn()
            try:
                quote = call()
            except RateLimitedError as error:
                self.record(error.allowance)
                shortfall = self.shortfall()
                if shortfall is not None:
                    raise SourceError(
                        market, f"{error.problem}; {shortfall}", allowance=error.allowance
                    ) from None
                if attempt == self.settings.attempts:
                    raise SourceError(
                        market, f"{error.problem} (after {attempt} attempts)", allowance=error.allowance
                    ) from None
                self.pause(market, error, attempt)
                attempt += 1
            except SourceError as error:
                self.record(error.allowance)
                raise
            else:
                self.record(quote.allowance)
                return quote
