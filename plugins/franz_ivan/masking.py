"""The forms a PEM secret takes in a log, for Airflow's secrets masker.

Airflow masks a secret where its exact text appears in one log message. A PEM block is several
lines, so it escapes that mask twice over: printed, it reaches the task log one line at a time;
inside a logged dict or JSON, its line breaks read ``\\n``. Set
``AIRFLOW__LOGGING__SECRET_MASK_ADAPTER=franz_ivan.masking.pem_mask_variants`` and every base64
line of every PEM Airflow masks (connection extras included) is masked on its own as well.
"""

from __future__ import annotations

import re
from typing import Final

PEM_MARKER: Final = "-----BEGIN "
LINE_BREAK: Final = re.compile(r"\r?\n|\\(?:r\\)?n")
"""Real line breaks, and the escaped ones of a JSON string or a Python repr."""

MIN_LINE_LENGTH: Final = 5
"""Airflow's own floor for a masked secret (``min_length_masked_secret``): a block's last line can be
short, and anything shorter would match ordinary log text."""


def pem_mask_variants(secret: str) -> list[str]:
    """Each base64 line of the PEM blocks in ``secret``, and ``secret`` with its breaks escaped.

    Anything without a PEM block has no variants.
    """
    if not isinstance(secret, str) or PEM_MARKER not in secret:
        return []
    lines = (line.strip() for line in LINE_BREAK.split(secret))
    body = [line for line in lines if len(line) >= MIN_LINE_LENGTH and not line.startswith("-----")]
    return [secret.replace("\r\n", "\n").replace("\n", "\\n"), *dict.fromkeys(body)]
