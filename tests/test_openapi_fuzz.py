"""Schemathesis over the OpenAPI spec: no 5xx, and every response matches the spec.

The server runs for real (uvicorn on loopback, SQLite) with an admin API key, so generated
requests reach the routes and schemathesis also checks that a missing or wrong key is refused.
Checks that demand a 2xx for every schema-valid body are not applied: the API also validates what
JSON Schema cannot express (the configured event vocabulary, per-type value rules, a path id
equal to the body id) and answers those with the documented 422.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from tastemaker.service import create_app
from tastemaker.storage import open_store
from tests.conftest import make_settings
from tests.live import serve

_spec_app = create_app(make_settings("sqlite://", insecure_dev=True))
schema = schemathesis.openapi.from_dict(_spec_app.openapi())


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    db = tmp_path_factory.mktemp("fuzz") / "fuzz.db"
    config = make_settings(f"sqlite:///{db}")
    store = open_store(config)
    secret, _ = store.keys.create("fuzz", ["admin"], datetime.now(UTC))
    with serve(create_app(config, store)) as url:
        yield url, secret
    store.close()


@schema.parametrize()
@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_conforms_to_its_spec(case: schemathesis.Case, server: tuple[str, str]) -> None:
    url, secret = server
    case.call_and_validate(
        base_url=url,
        headers={"Authorization": f"Bearer {secret}"},
        excluded_checks=[positive_data_acceptance],
    )
