"""schemathesis against the service's own OpenAPI document, over real HTTP: generated requests, valid and invalid,
never get a 5xx, and every response matches the status codes and schemas the document declares."""

from __future__ import annotations

from typing import Any

import pytest
from schemathesis.checks import positive_data_acceptance

from pgseek.config import Settings
from pgseek.seek import Seek
from tests.integration.api.conftest import LiveServer, bearer, openapi_schema

# Per operation and generation mode; bounded so that the whole run stays around a minute on 2 cores.
MAX_EXAMPLES = 15

schema = openapi_schema(MAX_EXAMPLES)


@pytest.fixture(scope="module")
def auth(live_server: LiveServer, settings: Settings, local_embedder: Any) -> dict[str, str]:
    with Seek(settings, embedder=local_embedder) as seek:
        key = seek.create_api_key("fuzz").key
    return bearer(key)


def test_the_served_document_is_the_one_under_test(live_server: LiveServer) -> None:
    import httpx

    assert httpx.get(f"{live_server.url}/openapi.json").json() == schema.raw_schema


@schema.parametrize()
def test_generated_requests_get_no_server_error(case: Any, live_server: LiveServer, auth: dict[str, str]) -> None:
    # Every check but positive_data_acceptance: some schema-valid values are refused on purpose, with a 4xx that
    # names them (a text search configuration this database lacks, a name the URL cannot carry intact).
    case.call_and_validate(base_url=live_server.url, headers=auth, excluded_checks=[positive_data_acceptance])
