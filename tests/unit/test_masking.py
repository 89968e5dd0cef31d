"""The PEM variants Airflow's masker is given (``[logging] secret_mask_adapter``)."""

from __future__ import annotations

import json

import pytest

from devtools.tls import CertificateAuthority, Credentials
from franz_ivan.masking import pem_mask_variants


def test_every_body_line_and_the_escaped_block_are_variants(client_credentials: Credentials) -> None:
    key = client_credentials.key_pem
    body = key.splitlines()[1:-1]

    variants = pem_mask_variants(key)

    assert variants == [json.dumps(key)[1:-1], *body]


def test_the_lines_of_pems_inside_a_json_extra_are_variants(
    test_ca: CertificateAuthority, client_credentials: Credentials
) -> None:
    extra = json.dumps({"ssl.ca.pem": test_ca.certificate_pem, "ssl.key.pem": client_credentials.key_pem})

    variants = pem_mask_variants(extra)

    assert set(client_credentials.key_pem.splitlines()[1:-1]) <= set(variants)


@pytest.mark.parametrize("secret", ["pw-Aiven-Like-7f3e9c1d", "", "BEGIN PRIVATE KEY without dashes"])
def test_what_holds_no_pem_block_has_no_variants(secret: str) -> None:
    assert pem_mask_variants(secret) == []
