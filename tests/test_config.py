from pathlib import Path

import pytest

from pipeline.config import ConfigError, load_feeds, load_settings, load_watched_stories

PROJECT = Path(__file__).resolve().parents[1]


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_shipped_config_loads() -> None:
    settings = load_settings(PROJECT / "config")
    assert settings.workers >= 1 and settings.namespace == "live"
    assert [s.id for s in load_watched_stories(PROJECT / "config")] == ["us-china-mil-channels"]
    story = load_watched_stories(PROJECT / "config")[0]
    assert [p.name for p in story.seeds] == sorted(p.name for p in (PROJECT / "seeds").glob("*.txt"))


def test_wrong_type_names_file_and_line(tmp_path: Path) -> None:
    write(tmp_path, "storywatch.toml", "[workers]\n\ncount = \"two\"\n")
    with pytest.raises(ConfigError, match=r"storywatch.toml:3: count must be int"):
        load_settings(tmp_path)


def test_unknown_key_and_broken_toml(tmp_path: Path) -> None:
    write(tmp_path, "storywatch.toml", "[workers]\ncount = 2\ncuont = 3\n")
    with pytest.raises(ConfigError, match=r":3: unknown key workers.cuont"):
        load_settings(tmp_path)
    write(tmp_path, "storywatch.toml", "[workers]\ncount = = 2\n")
    with pytest.raises(ConfigError, match=r"storywatch.toml:2: invalid TOML"):
        load_settings(tmp_path)


def test_missing_settings_file_in_explicit_folder(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"storywatch\.toml: file not found"):
        load_settings(tmp_path)


def test_feed_errors_point_at_the_feed_table(tmp_path: Path) -> None:
    write(tmp_path, "feeds.toml", '[[feed]]\nurl = "https://a.example/rss"\n\n[[feed]]\nurl = "ftp://x"\n')
    with pytest.raises(ConfigError, match=r"feeds.toml:4: \[\[feed\]\] needs url"):
        load_feeds(tmp_path)
    write(tmp_path, "feeds.toml", '[[feed]]\nurl = "https://a.example/rss"\ninterval = 1\n')
    with pytest.raises(ConfigError, match=r"feeds.toml:1: interval must be whole seconds"):
        load_feeds(tmp_path)


def test_feeds_parse(tmp_path: Path) -> None:
    write(tmp_path, "feeds.toml", '[[feed]]\nurl = "https://a.example/rss"\nname = "A"\ntags = ["x"]\n')
    [feed] = load_feeds(tmp_path)
    assert (feed.url, feed.name, feed.tags, feed.interval) == ("https://a.example/rss", "A", ("x",), None)


def test_story_seed_pattern_must_match(tmp_path: Path) -> None:
    write(tmp_path, "stories/a.toml", 'id = "a"\ntitle = "A"\nseeds = ["none/*.txt"]\n')
    with pytest.raises(ConfigError, match=r"a.toml:3: seed pattern 'none/\*.txt' matches no file"):
        load_watched_stories(tmp_path)
