"""A throwaway PostgreSQL server for tests: initdb in a temp dir, a free port, gone afterwards.

Debian's PostgreSQL (`/usr/lib/postgresql/<version>/bin`, the newest there). The server refuses
to run as root, so as root every binary runs as the `postgres` user (`runuser`); otherwise as
the current user. The machine's own cluster (port 5432) is never touched. Without the binaries
the tests using it skip, unless `VOLLEY_REQUIRE_POSTGRES=1` (what `.ci/run` sets when it could
install them): then they fail.

Use the `postgres_url` fixture (import it into the test module) or `running_postgres()`.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

__all__ = ["find_bin", "postgres_url", "require_postgres", "running_postgres"]


def find_bin() -> Path | None:
    """The newest installed PostgreSQL's `bin` directory, or `None`."""
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda path: int(Path(path).parent.parent.name or 0),
    )
    return Path(found[-1]).parent if found else None


def require_postgres() -> Path:
    """The `bin` directory; skips the test without one (fails under VOLLEY_REQUIRE_POSTGRES=1)."""
    bin_dir = find_bin()
    if bin_dir is None:
        if os.environ.get("VOLLEY_REQUIRE_POSTGRES") == "1":
            pytest.fail(
                "VOLLEY_REQUIRE_POSTGRES=1, but /usr/lib/postgresql/*/bin/initdb is missing"
            )
        pytest.skip("PostgreSQL is not installed (apt-get install postgresql)")
    return bin_dir


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def running_postgres(bin_dir: Path) -> Iterator[str]:
    """Start a server in a new temp dir; yield its URL; stop it and remove the dir."""
    as_user: list[str] = []
    root = Path(tempfile.mkdtemp(prefix="volley-pg-"))
    if os.geteuid() == 0:
        as_user = ["runuser", "-u", "postgres", "--"]
        shutil.chown(root, "postgres")
    data, log, port = root / "data", root / "log", _free_port()

    def run(*args: str) -> None:
        done = subprocess.run([*as_user, *args], capture_output=True, text=True, timeout=60)
        if done.returncode != 0:
            tail = log.read_text()[-2000:] if log.exists() else ""
            raise RuntimeError(f"{args[0]} failed: {done.stdout}{done.stderr}{tail}")

    started = False
    try:
        initdb = str(bin_dir / "initdb")
        run(
            initdb,
            "-D",
            str(data),
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-locale",
            "-N",
        )
        options = f"-p {port} -k {root} -c listen_addresses=127.0.0.1"
        run(str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(log), "-w", "-o", options, "start")
        started = True
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        if started:
            run(str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop")
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def postgres_server() -> Iterator[str]:
    """One server per test module (~1 s to start): its URL."""
    with running_postgres(require_postgres()) as url:
        yield url


@pytest.fixture
def postgres_url(postgres_server: str) -> str:
    """A URL whose tables live in a schema of this test's own, so tests cannot see each other."""
    import psycopg

    schema = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_server, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    return f"{postgres_server}?options=-csearch_path%3D{schema}"
