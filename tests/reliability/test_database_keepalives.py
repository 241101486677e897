"""Database connections carry TCP keepalives and a user timeout on both ends (config/settings.py,
DB_KEEPALIVES*, DB_TCP_USER_TIMEOUT_MS): checked on live connections, in the client's socket
(what libpq set) and in the server's session (what PostgreSQL reads back from its socket)."""

import json
import os
import socket
import subprocess
import sys
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from django.db import connection

from tests.reliability.servers import ROOT

pytestmark = pytest.mark.django_db

SERVER_SETTINGS = ["tcp_keepalives_idle", "tcp_keepalives_interval", "tcp_keepalives_count",
                   "tcp_user_timeout"]  # fmt: skip


def client_socket_options(fd: int) -> dict:
    """What the kernel holds for libpq's socket (a duplicate of its descriptor, closed here)."""
    with socket.socket(fileno=os.dup(fd)) as sock:
        return {
            "keepalive": sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE),
            "idle": sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE),
            "interval": sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL),
            "count": sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT),
            "user_timeout_ms": sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT),
        }


def server_settings(cursor) -> dict:
    values = {}
    for name in SERVER_SETTINGS:
        cursor.execute(f"SHOW {name}")
        values[name] = cursor.fetchone()[0]
    return values


def test_a_live_connection_carries_keepalives_and_a_user_timeout_on_both_ends():
    connection.ensure_connection()
    raw = connection.connection
    assert raw.info.host.startswith("127.") or raw.info.host == "localhost"  # TCP, not a socket
    parameters = raw.info.get_parameters()
    assert {name: parameters[name] for name in ("keepalives", "keepalives_idle",
            "keepalives_interval", "keepalives_count", "tcp_user_timeout")} == {
        "keepalives": "1", "keepalives_idle": "30", "keepalives_interval": "10",
        "keepalives_count": "3", "tcp_user_timeout": "30000",
    }  # fmt: skip
    assert client_socket_options(raw.fileno()) == {
        "keepalive": 1, "idle": 30, "interval": 10, "count": 3, "user_timeout_ms": 30_000,
    }  # fmt: skip
    with connection.cursor() as cursor:
        assert server_settings(cursor) == {
            "tcp_keepalives_idle": "30", "tcp_keepalives_interval": "10",
            "tcp_keepalives_count": "3", "tcp_user_timeout": "30000",
        }  # fmt: skip
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE pid = pg_backend_pid() "
            "AND client_addr IS NOT NULL"
        )
        assert cursor.fetchone()[0] == 1  # the server sees a TCP client


PROBE = """
import json, os, socket, django
django.setup()
from django.db import connection
connection.ensure_connection()
raw = connection.connection
with socket.socket(fileno=os.dup(raw.fileno())) as sock:
    client = [sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE),
              sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE),
              sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL),
              sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT),
              sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT)]
server = []
with connection.cursor() as cursor:
    for name in %r:
        cursor.execute("SHOW " + name)
        server.append(cursor.fetchone()[0])
print(json.dumps({"client": client, "server": server}))
""" % (SERVER_SETTINGS,)  # noqa: UP031


def probe(script: str = PROBE, **env) -> dict:
    """Client socket options and server settings of a fresh process's connection."""
    url = urlsplit(env.pop("DATABASE_URL", os.environ["DATABASE_URL"]))
    full_env = dict(os.environ, PITBOSS_ENV="development", DJANGO_SETTINGS_MODULE="config.settings")
    full_env["DATABASE_URL"] = urlunsplit(url._replace(path="/postgres"))
    full_env.update(env)
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=full_env, capture_output=True, text=True,
        timeout=60, check=True,
    )  # fmt: skip
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_the_environment_sets_them_and_can_leave_the_system_defaults():
    tuned = probe(
        DB_KEEPALIVES_IDLE="45", DB_KEEPALIVES_INTERVAL="7", DB_KEEPALIVES_COUNT="4",
        DB_TCP_USER_TIMEOUT_MS="12000",
    )  # fmt: skip
    assert tuned == {"client": [1, 45, 7, 4, 12000], "server": ["45", "7", "4", "12000"]}
    # Off: libpq's and the kernel's defaults (probes only after the system's idle time, no
    # bound on unacknowledged data).
    off = probe(DB_KEEPALIVES="0")
    with open("/proc/sys/net/ipv4/tcp_keepalive_time") as system_idle:
        assert off["client"][1] == int(system_idle.read())
    assert off["client"][4] == 0 and off["server"][3] == "0"


def test_a_parameter_in_database_url_wins():
    url = os.environ["DATABASE_URL"] + "?keepalives_idle=99"
    assert probe(DATABASE_URL=url)["client"][1] == 99
    assert probe(DATABASE_URL=url)["server"][0] == "99"


JIT_PROBE = """
import json, django
django.setup()
from django.db import connection
with connection.cursor() as cursor:
    cursor.execute("SHOW jit")
    print(json.dumps(cursor.fetchone()[0]))
"""


def test_jit_is_off_in_the_applications_sessions_unless_left_to_the_server():
    # Compiling is decided by cost estimates, which grow with the tables: statements that run
    # in milliseconds paid up to seconds of compilation on a large ledger (config/settings.py).
    with connection.cursor() as cursor:
        cursor.execute("SHOW jit")
        assert cursor.fetchone()[0] == "off"
    assert probe(JIT_PROBE) == "off"
    with psycopg.connect(os.environ["DATABASE_URL"]) as plain:
        server_default = plain.execute("SHOW jit").fetchone()[0]
    assert probe(JIT_PROBE, DB_JIT="server") == server_default
    with pytest.raises(subprocess.CalledProcessError) as refused:
        probe(JIT_PROBE, DB_JIT="maybe")
    assert "DB_JIT must be 'off' or 'server'" in refused.value.stderr
