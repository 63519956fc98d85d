"""The learned same-event decision: briefs join their event, another event of the subject does not, and
the model file is checked when it loads."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest

from pipeline.evidence import EVIDENCE, LIFTS, article_keys, rarity, with_lifts
from pipeline.models import Article
from pipeline.same_event import MODEL_PATH, ModelFileError, load_model
from pipeline.stories import StoryIndex, StorySettings
from tests.test_stories import NOV_2, analyser, seed_index, seeds  # noqa: F401 (fixtures)

# A short brief restating the seed event with one changed figure and one changed detail.
BRIEF = {
    "id": "brief",
    "title": "Pentagon chief and Chinese counterpart agree on military channels",
    "text": (
        "Secretary of War Pete Hegseth and China's defence minister, Admiral Dong Jun, agreed in Kuala Lumpur "
        "to set up military-to-military channels to deconflict and de-escalate problems, Hegseth said on "
        "Sunday. The two met on the sidelines of the ASEAN defence ministers' meeting in Malaysia, days after "
        "Donald Trump and Xi Jinping held talks in South Korea. More than 40 channels of communication went "
        "dormant after 2022, officials said."
    ),
}
# Same subject (US-China military contact), another event: other people, place and month.
OTHER_EVENT = {
    "id": "other-event",
    "title": "US and Chinese navies hold maritime safety talks in Honolulu",
    "text": (
        "Officers of the US Pacific Fleet and the Chinese navy met in Honolulu on Wednesday for three days of "
        "talks under the Military Maritime Consultative Agreement, the first such session since April. Rear "
        "Admiral Michael Studeman led the American delegation, the fleet said in a statement, and the two "
        "sides reviewed unsafe intercepts of ships and aircraft over the past year. A Chinese navy spokesman "
        "in Qingdao called the discussions frank and said both sides would meet again next spring."
    ),
}


def test_a_brief_with_a_changed_figure_joins_its_story(seed_index: StoryIndex, analyser) -> None:  # noqa: F811
    (brief,) = analyser.analyse([BRIEF])
    assert len(brief.article.text.split()) < 80
    placement = seed_index.place(brief, NOV_2 + timedelta(hours=20))
    assert placement.story.id == "us-china-mil" and not placement.created


def test_another_event_of_the_same_subject_starts_its_own_story(seed_index: StoryIndex, analyser) -> None:  # noqa: F811
    (other,) = analyser.analyse([OTHER_EVENT])
    placement = seed_index.place(other, NOV_2 + timedelta(days=3))
    assert placement.created and placement.story.id != "us-china-mil"


def test_rare_words_and_numbers_weigh_more_than_common_ones() -> None:
    assert rarity("kokomo") > rarity("shooting") > rarity("the")
    # A number is as telling as a fairly rare word; a word English never saw is not more than a rare name.
    assert rarity("#41") == pytest.approx(4.0)
    assert rarity("the") < rarity("xqzvlorp") < rarity("kokomo")
    text = "41 people were shot at a Kokomo bar in 2014, police said."
    keys = article_keys(Article("a", "", "", "Shooting in Kokomo", text), [], [])
    # Years are shared by unrelated events of one period: not a number key.
    assert "kokomo" in keys.top and "#41" in keys.terms and "#2014" not in keys.terms


def test_lifts_read_a_lone_candidate_against_a_typical_one() -> None:
    assert [lift for lift, _ in LIFTS] == ["terms_lift", "entities_lift"]
    table = np.zeros((2, len(EVIDENCE)))
    table[:, EVIDENCE.index("terms")] = [0.5, 0.0]
    lone = with_lifts(table[:1].copy(), pool=16, background=(0.1, 0.05))
    # One real candidate among 15 typical ones: nearly its distance above the typical cosine.
    assert lone[0, EVIDENCE.index("terms_lift")] == pytest.approx(0.5 - (0.5 + 15 * 0.1) / 16)
    # Strangers around it never lower the reference below the typical candidate.
    crowd = with_lifts(table.copy(), pool=2, background=(0.1, 0.05))
    assert crowd[0, EVIDENCE.index("terms_lift")] == pytest.approx(0.5 - 0.25)
    assert crowd[1, EVIDENCE.index("entities_lift")] == pytest.approx(-0.05)


def test_the_committed_model_loads_and_names_its_training() -> None:
    model = load_model()
    assert set(model.features) <= set(EVIDENCE) and 0 < model.join < model.merge < 1
    provenance = json.loads(MODEL_PATH.read_text(encoding="utf-8"))["provenance"]
    assert "gvc-test" not in provenance["trained_on"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "not found"),
        ("{not json", "not a readable JSON"),
        (json.dumps({"features": ["no-such-evidence"]}), "retrain"),
        ("WEIGHTS_TOO_SHORT", "'weights' must be a list of"),
        ("JOIN_OUT_OF_RANGE", "'join' must be a probability"),
    ],
)
def test_a_missing_or_wrong_model_file_is_a_one_line_error(tmp_path: Path, content: str | None, message: str) -> None:
    path = tmp_path / "model.json"
    good = json.loads(MODEL_PATH.read_text(encoding="utf-8"))
    if content == "WEIGHTS_TOO_SHORT":
        content = json.dumps({**good, "weights": good["weights"][:-1]})
    elif content == "JOIN_OUT_OF_RANGE":
        content = json.dumps({**good, "join": 1.5})
    if content is not None:
        path.write_text(content, encoding="utf-8")
    with pytest.raises(ModelFileError) as error:
        StoryIndex([], replace(StorySettings(), model_path=path))
    assert message in str(error.value) and str(path) in str(error.value) and "\n" not in str(error.value)
