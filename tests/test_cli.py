"""What a user sees when something is wrong: one line naming the file or URL, never a traceback."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import run_cli


def one_line_error(result, *needles: str) -> None:
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("storywatch: error:"), result.stderr
    for needle in needles:
        assert needle in lines[0]


def test_help_teaches() -> None:
    result = run_cli("--help")
    assert result.returncode == 0
    assert "replay" in result.stdout and "REDIS_URL" in result.stdout and "examples:" in result.stdout


def test_missing_config_file(tmp_path: Path) -> None:
    one_line_error(run_cli("--config", str(tmp_path), "stories"), f"{tmp_path}/storywatch.toml", "not found")


def test_corrupt_config_file(tmp_path: Path) -> None:
    (tmp_path / "storywatch.toml").write_text("[workers]\ncount = 2\nretry_intervals = [1, 2\n")
    one_line_error(run_cli("--config", str(tmp_path), "stories"), "storywatch.toml:", "invalid TOML")


def test_unreachable_redis_url_without_its_password() -> None:
    result = run_cli("stories", env={"REDIS_URL": "redis://:hunter2@127.0.0.1:1/0"})
    one_line_error(result, "cannot reach Redis at redis://:***@127.0.0.1:1/0")
    assert "hunter2" not in result.stderr


def test_cluster_takes_the_cooling_from_the_config(tmp_path: Path) -> None:
    from tests.test_stories import slow_follow_up_stream

    stream = slow_follow_up_stream(tmp_path)

    def stories(*flags: str) -> int:
        result = run_cli("--config", str(tmp_path), "cluster", "--input", str(stream), "-q", *flags)
        assert result.returncode == 0, result.stderr
        return len({json.loads(line)["story"] for line in result.stdout.splitlines()})

    (tmp_path / "storywatch.toml").write_text("[stories]\nassumed_gap_hours = 0.5\n")
    assert stories() == 2
    assert stories("--assumed-gap-hours", "12") == 1
    (tmp_path / "storywatch.toml").write_text("[stories]\nassumed_gap_hours = 12\nquiet_gaps = 0\n")
    one_line_error(run_cli("--config", str(tmp_path), "cluster", "--input", str(stream)),
                   "storywatch.toml:3: quiet_gaps must be more than 0")


def test_seed_file_that_is_not_utf8(tmp_path: Path) -> None:
    (tmp_path / "000_ok.txt").write_text("A fine article about channels.")
    (tmp_path / "001_bad.txt").write_bytes(b"Caf\xe9 talks resumed.")
    one_line_error(run_cli("replay", str(tmp_path), env={"REDIS_URL": "redis://127.0.0.1:1/0"}),
                   "001_bad.txt", "not UTF-8")
