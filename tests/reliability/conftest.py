import os

import pytest

from tests.reliability import servers


@pytest.fixture(scope="session")
def rel_server_url():
    return os.environ.get("DATABASE_URL", "postgresql://pitboss@127.0.0.1:54329/pitboss")


@pytest.fixture(scope="session")
def rel_template(migrated_template):
    """The run's migrated template database (tests/conftest.py), that the process-level tests
    copy: (its name, its URL)."""
    return migrated_template


@pytest.fixture
def rel_database(rel_server_url, rel_template, request):
    """A fresh migrated database of our own for one test: (URL, environment for subprocesses)."""
    name = f"pitboss_rel_{os.getpid()}_{request.node.name[:30].lower()}"
    url = servers.create_database(rel_server_url, name, template=rel_template[0])
    env = servers.base_env(url, os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"))
    try:
        yield url, env
    finally:
        servers.drop_database(rel_server_url, name)
