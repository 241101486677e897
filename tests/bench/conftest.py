import os

import pytest


@pytest.fixture(autouse=True)
def _bench_databases_copy_the_migrated_template(request, monkeypatch):
    """The bench modules build their throwaway databases by copying BENCH_TEMPLATE_DATABASE when
    it is set (bench.common.migrated_database, as `bench.run` has them do): here the run's
    migrated template, instead of each module replaying every migration in its subprocess."""
    if not os.environ.get("DATABASE_URL"):
        pytest.skip("the benchmarks need DATABASE_URL (a PostgreSQL server)")
    name, _ = request.getfixturevalue("migrated_template")
    monkeypatch.setenv("BENCH_TEMPLATE_DATABASE", name)
