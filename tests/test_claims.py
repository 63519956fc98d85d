"""Claim extraction: splitting, furniture dropping and slot filling on spaCy's small model."""

from __future__ import annotations

import pytest

from pipeline.claims import extract_claims, load_nlp
from pipeline.models import Article


@pytest.fixture(scope="module")
def nlp():
    return load_nlp()


def claims_of(nlp, text: str, published: str | None = "2025-11-02"):
    return extract_claims(Article(id="a1", url="", source="test", title="", text=text, published=published), nlp)


def one(nlp, text: str, published: str | None = "2025-11-02"):
    claims = claims_of(nlp, text, published)
    assert len(claims) == 1, [c.text for c in claims]
    return claims[0]


def test_load_nlp_is_cached_and_sentence_ready():
    nlp = load_nlp()
    assert nlp is load_nlp()
    assert "parser" not in nlp.pipe_names and "senter" in nlp.pipe_names


def test_parts_of_speech_come_from_the_tags():
    doc = load_nlp()("The Pentagon will send 200 engineers to Manila.")
    assert [t.pos_ for t in doc] == ["DET", "PROPN", "AUX", "VERB", "NUM", "NOUN", "ADP", "PROPN", "PUNCT"]


def test_spacy_multiplies_with_numpy_not_blis():
    """blis's generic kernels, its fallback on CPUs it does not know, run at a third of numpy's BLAS."""
    nlp = load_nlp()
    nodes = [node for _, component in nlp.pipeline if hasattr(component, "model") for node in component.model.walk()]
    assert nodes and not any(node.ops.use_blis for node in nodes)
    doc = nlp("The Pentagon will send 200 engineers to Manila on Friday.")
    assert [(e.text, e.label_) for e in doc.ents] == [("Pentagon", "ORG"), ("200", "CARDINAL"), ("Manila", "GPE"),
                                                      ("Friday", "DATE")]


@pytest.mark.parametrize(
    "furniture",
    [
        "CLICK HERE TO DOWNLOAD THE FOX NEWS APP",
        "Share.",
        "Leave A Reply",
        "Recommended stories",
        "list of 3 itemsend of list",
        "NEW You can now listen to Fox News articles!",
        "Weather     Live Markets",
        "Pete Hagseth (Photo: HASNOOR HUSSAIN/EPA)",
        "TRUMP TOUTS ‘12 OUT OF 10’ MEETING WITH XI, DOWNPLAYS REPORTS OF VENEZUELA STRIKES",
        "OPINION: TRUMP SCORES FOUR BIG WINS WITH XI, BUT HAS ONE BIG MISS",
        "By Jane Smith and Tom Brown, Reuters",
        "US and China Agree to Establish Military Communications to Prevent Conflicts",
        "This balanced approach recognizes that while competition is inevitable, managing it remains essential.",
    ],
)
def test_furniture_and_opinion_are_not_claims(nlp, furniture):
    text = f"{furniture}\nHegseth met Chinese Defense Minister Dong Jun in Malaysia on Saturday."
    assert [c.text for c in claims_of(nlp, text)] == [
        "Hegseth met Chinese Defense Minister Dong Jun in Malaysia on Saturday."
    ]


def test_claim_ids_are_stable_and_distinct(nlp):
    text = "Hegseth met Dong Jun in Malaysia.\nTrump met Xi Jinping in South Korea on October 30."
    first, second = claims_of(nlp, text), claims_of(nlp, text)
    assert [c.id for c in first] == [c.id for c in second]
    assert len({c.id for c in first}) == 2
    assert all(c.vector is None and c.article_id == "a1" for c in first)


def test_entities_fill_people_orgs_places(nlp):
    claim = one(nlp, "Pete Hegseth met Dong Jun of China’s Ministry of National Defense in Malaysia.")
    assert claim.slots.people == ["Pete Hegseth", "Dong Jun"]
    assert "Ministry of National Defense" in claim.slots.orgs
    assert "Malaysia" in claim.slots.places


def test_percentages_are_normalised(nlp):
    # spaCy's small model reads "57% to" as one PERCENT span.
    claim = one(nlp, "Trump eased tariffs on Chinese goods from 57% to 47%.")
    assert [(q.value, q.unit) for q in claim.slots.quantities] == [(57.0, "%"), (47.0, "%")]
    assert [q.text for q in claim.slots.quantities] == ["57%", "47%"]


def test_counted_quantity_keeps_qualifier_and_noun(nlp):
    claim = one(nlp, "CSIS said most of the more than 90 communication channels went dormant.")
    (quantity,) = claim.slots.quantities
    assert (quantity.value, quantity.text, quantity.counts) == (90.0, "more than 90", "channel")


def test_money_and_missed_digits(nlp):
    claim = one(nlp, "The company paid $2.5 billion and sent 800 troops to the area.")
    values = {(q.value, q.unit) for q in claim.slots.quantities}
    assert (2.5e9, "USD") in values
    assert (800.0, "") in values


@pytest.mark.parametrize(
    ("text", "published", "expected"),
    [
        ("Hegseth spoke to reporters in Kuala Lumpur on Saturday.", "2025-11-02", ["2025-11-01"]),
        ("CSIS published the report in May.", "2025-11-02", ["2025-05"]),
        ("Trump said he would visit China in April.", "2025-11-02", ["2026-04"]),
        ("Trump and Xi met in South Korea on October 30.", "2025-11-02", ["2025-10-30"]),
        ("Trump and Xi met in South Korea on October 30.", None, ["--10-30"]),
        ("Pelosi visited Taiwan in 2022.", "2025-11-02", ["2022"]),
        # A dateline says when the report was filed: only the event's own date is a slot.
        ("WASHINGTON, November 2, 2025 — Hegseth said on Saturday that the channels would reopen.",
         "2025-11-02", ["2025-11-01"]),
    ],
)
def test_dates_resolve_against_publication(nlp, text, published, expected):
    assert one(nlp, text, published).slots.dates == expected


def test_negation(nlp):
    assert one(nlp, "China has not agreed to supply rare earth metals.").slots.negated
    assert not one(nlp, "China has agreed to supply rare earth metals.").slots.negated


def test_quote_with_speaker_and_pronoun_carry_over(nlp):
    text = (
        '"We have more meetings on that coming soon," Hegseth said in a post on X.\n'
        '"We seek peace and we do not seek conflict with anybody," he added.'
    )
    first, second = claims_of(nlp, text)
    assert [(q.text, q.speaker) for q in first.slots.quotes] == [
        ("We have more meetings on that coming soon,", "Hegseth")
    ]
    assert second.slots.quotes[0].speaker == "Hegseth"


def test_quote_split_by_sentences_stays_one_claim(nlp):
    claims = claims_of(nlp, '"We seek peace. We do not seek conflict. But we must be ready," Hegseth said.')
    assert len(claims) == 1
    assert claims[0].slots.quotes[0].speaker == "Hegseth"


def test_attribution_prefers_according_to(nlp):
    claim = one(
        nlp, '"The claims fly in the face of their commitments," Hegseth said, according to The Associated Press.'
    )
    assert claim.slots.attribution == "Associated Press"
    assert claim.slots.quotes[0].speaker == "Hegseth"
