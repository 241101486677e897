"""Real processes for the reliability tests: a dedicated database, a migrated schema, seeded
players, the web server (granian), a private PostgreSQL cluster and a private Redis, all on
loopback ports.

Everything here is bounded (timeouts on every wait) and stops only the processes it started,
by pid.
"""

import contextlib
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg

ROOT = Path(__file__).resolve().parents[2]
PYTHON = sys.executable
PG_BIN = Path("/usr/lib/postgresql/15/bin")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(predicate, timeout: float, what: str, interval: float = 0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout}s waiting for {what}")


def port_open(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
        return True
    return False


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


def base_env(database_url: str, redis_url: str, **extra) -> dict:
    env = dict(os.environ)
    env.update(
        PITBOSS_ENV="development",
        DJANGO_SETTINGS_MODULE="config.settings",
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


# --- databases ------------------------------------------------------------------------------------


def _admin_conn(server_url: str):
    return psycopg.connect(
        with_database(server_url, "postgres"), autocommit=True, connect_timeout=5
    )


def create_database(server_url: str, name: str, template: str | None = None) -> str:
    with _admin_conn(server_url) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
    return with_database(server_url, name)


def copy_schema(source_url: str, target_url: str, timeout: float = 60) -> None:
    """pg_dump | pg_restore: a migrated database copied to another server."""
    dump = subprocess.run(
        [str(PG_BIN / "pg_dump"), "-Fc", "--no-owner", source_url],
        capture_output=True, timeout=timeout, check=False,
    )  # fmt: skip
    assert dump.returncode == 0, dump.stderr.decode()
    restore = subprocess.run(
        [str(PG_BIN / "pg_restore"), "--no-owner", "-d", target_url],
        input=dump.stdout, capture_output=True, timeout=timeout, check=False,
    )  # fmt: skip
    assert restore.returncode == 0, restore.stderr.decode()


def drop_database(server_url: str, name: str) -> None:
    with contextlib.suppress(psycopg.Error), _admin_conn(server_url) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def migrate(env: dict, timeout: float = 240) -> None:
    done = subprocess.run(
        [PYTHON, "manage.py", "migrate", "--noinput", "-v", "0"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert done.returncode == 0, f"migrate failed:\n{done.stdout}\n{done.stderr}"


_SEED = """
import json, sys
import django
django.setup()
from wallets import ledger, services
spec = json.loads(sys.argv[1])
provider, secret = services.create_provider(
    code=spec["provider"], name="Reliability", currencies=["EUR"]
)
players = []
for i in range(spec["players"]):
    player = services.create_player(
        external_id=f"rel-{i}", currency="EUR", country="MT", registration_ip="10.0.0.1"
    )
    ledger.deposit(player=player, currency="EUR", amount_minor=spec["funds"],
                   external_id=f"rel-seed-{i}")
    session, token = ledger.open_session(
        player=player, provider=provider, currency="EUR", game_id="slot-1"
    )
    players.append({"id": player.pk, "wallet": session.wallet_id, "token": token})
print(json.dumps({"secret": secret, "players": players}))
"""


def seed(env: dict, *, players: int, funds_minor: int, provider: str = "relprov") -> dict:
    """A provider, `players` funded players with an open session each: {secret, players}."""
    spec = json.dumps({"provider": provider, "players": players, "funds": funds_minor})
    done = subprocess.run(
        [PYTHON, "-c", _SEED, spec],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, f"seeding failed:\n{done.stdout}\n{done.stderr}"
    return json.loads(done.stdout.strip().splitlines()[-1])


WALLET_CHECK_SQL = """
SELECT w.id, w.balance_minor, w.reserved_minor,
       COALESCE((SELECT SUM(t.delta_minor) FROM wallets_transaction t
                 WHERE t.wallet_id = w.id
                   AND (t.status IN ('posted', 'rolled_back')
                        OR (t.status = 'held' AND t.delta_minor > 0))), 0),
       COALESCE((SELECT SUM(s.reserved_minor) FROM wallets_gamesession s
                 WHERE s.wallet_id = w.id AND s.status = 'open'), 0)
       + COALESCE((SELECT SUM(t.amount_minor) FROM wallets_transaction t
                   WHERE t.wallet_id = w.id AND t.status = 'held'), 0)
FROM wallets_wallet w ORDER BY w.id
"""


def wallet_state(database_url: str) -> dict[int, int]:
    """{wallet id: balance} after checking the ledger invariant of every wallet."""
    problems, balances = [], {}
    with psycopg.connect(database_url, connect_timeout=5) as conn:
        for wallet_id, balance, reserved, ledger_sum, reserved_sum in conn.execute(
            WALLET_CHECK_SQL
        ):
            balances[wallet_id] = balance
            if balance != ledger_sum:
                problems.append(f"wallet {wallet_id}: balance {balance} != ledger sum {ledger_sum}")
            if reserved != reserved_sum:
                problems.append(f"wallet {wallet_id}: reserved {reserved} != {reserved_sum}")
    assert not problems, "\n".join(problems)
    return balances


# --- web server -----------------------------------------------------------------------------------


class WebServer:
    """config.wsgi:application under the production web server (config/server.py: granian, a
    main process and its workers) on a free loopback port."""

    def __init__(self, env: dict, *, workers: int = 2, log_dir: Path, port: int | None = None):
        self.env = env
        self.workers = workers
        self.port = port or free_port()
        self.log_dir = log_dir
        self.proc: subprocess.Popen | None = None
        self.starts = 0

    def start(self, timeout: float = 60) -> None:
        self.starts += 1
        log = open(self.log_dir / f"web-{self.port}-{self.starts}.log", "wb")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [PYTHON, "-m", "config.server"],
            cwd=ROOT,
            env={
                **self.env,
                "WEB_BIND": f"127.0.0.1:{self.port}",
                "WEB_CONCURRENCY": str(self.workers),
                "WEB_GRACEFUL_TIMEOUT": "2",
            },
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        wait_for(
            lambda: self.proc.poll() is None and port_open(self.port) and self._answers(),
            timeout,
            f"web server on port {self.port} (log in {self.log_dir})",
            interval=0.2,
        )
        assert self.proc.poll() is None, "web server exited at start"

    def _answers(self) -> bool:
        try:
            status, _ = request(self.port, "GET", "/wallet/v1/balance", b"", {}, timeout=5)
        except OSError:
            return False
        return status == 405

    def worker_pids(self) -> list[int]:
        if self.proc is None:
            return []
        pids = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            if ppid == self.proc.pid:
                pids.append(int(entry.name))
        return pids

    def kill_worker(self) -> int:
        pids = self.worker_pids()
        assert pids, "no web server worker to kill"
        os.kill(pids[0], signal.SIGKILL)
        return pids[0]

    def kill_all(self) -> None:
        """SIGKILL the master and every worker at once (a machine or container crash)."""
        if self.proc is None:
            return
        workers = self.worker_pids()
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.proc.pid, signal.SIGKILL)
        for pid in workers:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.proc.wait(timeout=10)
        for pid in workers:
            with contextlib.suppress(TimeoutError):
                wait_for(lambda p=pid: not Path(f"/proc/{p}").exists() or _zombie(p), 10, "worker")
        self.proc = None

    def stop(self) -> None:
        if self.proc is None:
            return
        workers = self.worker_pids()
        with contextlib.suppress(ProcessLookupError):
            self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
        for pid in workers:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.proc = None


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


# --- signed HTTP calls ----------------------------------------------------------------------------


def request(port: int, method: str, path: str, body: bytes, headers: dict, timeout: float = 10):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def sign(secret: str, timestamp: str, path: str, body: bytes) -> str:
    """A wallet API signature (contract revision 2: timestamp, path and body)."""
    import hashlib
    import hmac

    message = f"{timestamp}.{path}.".encode() + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


@dataclass
class WalletHttp:
    port: int
    provider: str
    secret: str

    def call(self, operation: str, timeout: float = 10, **fields) -> tuple[int, dict]:
        """(HTTP status, JSON body); raises OSError when no response came back."""
        body = json.dumps(fields).encode()
        timestamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            "X-Provider-Code": self.provider,
            "X-Timestamp": timestamp,
            "X-Signature": sign(self.secret, timestamp, f"/wallet/v1/{operation}", body),
        }
        status, raw = request(self.port, "POST", f"/wallet/v1/{operation}", body, headers, timeout)
        try:
            return status, json.loads(raw)
        except ValueError:
            return status, {"unparsable": raw[:500].decode("latin-1")}


# --- private PostgreSQL and Redis -----------------------------------------------------------------


class PrivatePostgres:
    """A throwaway cluster (initdb) on a free loopback port, run as the `postgres` system user
    when we are root (PostgreSQL refuses to run as root)."""

    def __init__(self):
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="pitboss-rel-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "postgresql.log"

    def _as_pg(self, *args, timeout: float = 90) -> subprocess.CompletedProcess:
        command = [str(a) for a in args]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        return subprocess.run(
            command, cwd="/", capture_output=True, text=True, timeout=timeout, check=False
        )

    def init(self) -> None:
        if os.geteuid() == 0:
            os.chmod(self.root, 0o755)
            shutil.chown(self.root, "postgres", "postgres")
        done = self._as_pg(
            PG_BIN / "initdb", "-D", self.data, "-U", "pitboss", "-A", "trust", "-E", "UTF8",
            "--no-locale", "--no-sync",
        )  # fmt: skip
        assert done.returncode == 0, done.stdout + done.stderr
        with open(self.data / "postgresql.conf", "a") as conf:
            conf.write(
                f"\nlisten_addresses = '127.0.0.1'\nport = {self.port}\n"
                f"unix_socket_directories = '{self.root}'\nfsync = off\n"
                "shared_buffers = 32MB\nmax_connections = 50\n"
            )

    def start(self) -> None:
        done = self._as_pg(
            PG_BIN / "pg_ctl", "start", "-D", self.data, "-l", self.log, "-w", "-t", "60", "-s"
        )
        assert done.returncode == 0, done.stdout + done.stderr + self._log_tail()

    def stop(self, mode: str = "fast") -> None:
        self._as_pg(PG_BIN / "pg_ctl", "stop", "-D", self.data, "-m", mode, "-w", "-t", "60")

    def running(self) -> bool:
        return (self.data / "postmaster.pid").exists()

    def _log_tail(self) -> str:
        with contextlib.suppress(OSError):
            return self.log.read_text()[-2000:]
        return ""

    @property
    def url(self) -> str:
        return f"postgresql://pitboss@127.0.0.1:{self.port}/postgres"

    def destroy(self) -> None:
        if self.running():
            self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)


class PrivateRedis:
    def __init__(self):
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="pitboss-rel-redis-"))
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            ["redis-server", "--bind", "127.0.0.1", "--port", str(self.port), "--save", "",
             "--appendonly", "no", "--dir", str(self.dir)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )  # fmt: skip
        wait_for(lambda: port_open(self.port), 10, f"redis on {self.port}")

    def stop(self) -> None:
        if self.proc is None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.proc = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def destroy(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)
