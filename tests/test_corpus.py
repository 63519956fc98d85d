from pathlib import Path

import pytest

from pipeline.corpus import CorpusError, read_corpus

PROJECT = Path(__file__).resolve().parents[1]


def test_seeds_read_in_file_name_order_with_dates() -> None:
    docs = read_corpus(PROJECT / "seeds")
    assert [d.id for d in docs] == sorted(p.stem for p in (PROJECT / "seeds").glob("*.txt"))
    assert docs[0].published == "2025-11-02"
    assert docs[0].text.startswith("NEW You can now listen")
    assert docs[2].published is None and docs[2].text.startswith("International Desk:")


def test_seeds_are_the_shared_ones_unchanged() -> None:
    shared = PROJECT.parent / "shared" / "seeds"
    if not shared.is_dir():
        pytest.skip("no shared/ beside this checkout")
    for path in shared.glob("*.txt"):
        assert (PROJECT / "seeds" / path.name).read_bytes() == path.read_bytes()


def test_non_utf8_file_is_named(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("fine text")
    (tmp_path / "b.txt").write_bytes(b"caf\xe9 au lait")
    with pytest.raises(CorpusError, match=r"b.txt: not UTF-8 text"):
        read_corpus(tmp_path)


def test_empty_folder_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(CorpusError, match=r"no \.txt documents"):
        read_corpus(tmp_path)
