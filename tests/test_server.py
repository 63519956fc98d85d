import stat
from pathlib import Path

import redis

from workers.server import EmbeddedServer


def test_start_adopt_stop(tmp_path: Path) -> None:
    server = EmbeddedServer(tmp_path / "data")
    assert server.start() is True
    try:
        assert stat.S_IMODE(server.socket_path.stat().st_mode) == 0o700
        client = redis.Redis.from_url(server.url)
        config = client.config_get("*")
        assert config["port"] == "0", "no TCP port"
        assert config["appendonly"] == "yes" and config["appendfsync"] == "everysec"
        assert config["maxmemory-policy"] == "noeviction"
        client.set("k", "v")
        # A second manager on the same data directory adopts instead of starting another server.
        other = EmbeddedServer(tmp_path / "data")
        assert other.start() is False
        assert other.pid() == server.pid()
        assert other.info()["keys"] == 1
    finally:
        assert server.stop() is True
    assert server.pid() is None
    assert server.stop() is False


def test_data_survives_restart(tmp_path: Path) -> None:
    server = EmbeddedServer(tmp_path / "data")
    server.start()
    redis.Redis.from_url(server.url).set("kept", "yes")
    server.stop()
    server.start()
    try:
        assert redis.Redis.from_url(server.url).get("kept") == b"yes"
    finally:
        server.stop()


def test_deep_data_dir_gets_short_socket(tmp_path: Path) -> None:
    deep = tmp_path / ("d" * 60) / ("e" * 60)
    server = EmbeddedServer(deep)
    assert len(str(server.socket_path)) < 108
    server.start()
    try:
        assert redis.Redis.from_url(server.url).ping()
    finally:
        server.stop()
