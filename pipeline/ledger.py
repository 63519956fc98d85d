"""A story's fact ledger: each new claim corroborates a fact, adds one, or contradicts one.

Sentence embeddings only narrow the search to the facts a claim may be about; the slots decide.
A contradiction needs the same subject and a conflicting value of one kind (number, date, place,
person in a role, negation, quote wording). Being wrong about a contradiction costs more than
missing one, so every test below errs on the side of "no conflict".
"""

from __future__ import annotations

import re
from difflib import SequenceMatcher

import numpy as np

from pipeline.aliases import normalise_place, person_overlap, places_conflict, roles, same_person
from pipeline.frames import office_conflict, rate_period, tells_change
from pipeline.models import (
    AnalysedArticle,
    Article,
    Claim,
    Comparison,
    Contradiction,
    Fact,
    Ledger,
    Quantity,
    SourceRef,
    Update,
    stable_id,
)
from pipeline.slots import dates_compatible

# Cosine levels of all-MiniLM-L6-v2 between two sentences.
CANDIDATE = 0.4  # below: about something else, even for a long sentence that says several things
RELATED = 0.5  # above: close enough that the fact may already hold what the claim says
RESTATES = 0.78  # above: the same statement in other words
SAME_EVENT = 0.62  # above, with a shared name: the same event, so differing values conflict
SAME_STATEMENT = 0.65  # above, with most words shared: one statement, so a flipped negation contradicts
SAME_WORDING = 0.8  # share of words two sentences must have in common to be one sentence with one swap
NEAR_COPY = 0.9  # above, with near-identical characters: the same sentence from a copied article
TOP_K = 8
# A claim whose words and values the nearest facts already hold restates them.
COVERED = 0.6
# An article is a copy of an earlier one when this share of its claims repeats that one verbatim.
COPY_SHARE = 0.5
COPY_MIN_CLAIMS = 3
COPY_TEXT_RATIO = 0.85
QUOTE_SAME_WORDING = 0.6
# A quotation this close to another, and this long, is the same one even when a speaker is not named.
# (Set on the development stories of ledger-dev and checked on the held-out ones: benchmarks/ledger_eval.py.)
QUOTE_KEPT = 0.8
QUOTE_KEPT_WORDS = 6
# "about 90": how far an approximate figure may stray before it conflicts.
APPROXIMATE_SPREAD = 0.1
_FLOORS = ("more than", "over", "at least", "just over")
_CEILINGS = ("less than", "fewer than", "under", "up to", "just under")
# Words on either side of a figure that say what it measures ("tariffs on Chinese goods from 57%");
# one more is needed when the sentences share no name.
QUANTITY_WINDOW = 6
SAME_QUANTITY_WORDS = 2

_STOPWORDS = frozenset(
    [
        "a",
        "an",
        "the",
        "and",
        "or",
        "but",
        "of",
        "to",
        "in",
        "on",
        "at",
        "for",
        "with",
        "by",
        "from",
        "as",
        "is",
        "are",
        "was",
        "were",
        "be",
        "been",
        "being",
        "has",
        "have",
        "had",
        "do",
        "does",
        "did",
        "that",
        "this",
        "these",
        "those",
        "it",
        "its",
        "their",
        "they",
        "them",
        "he",
        "she",
        "his",
        "her",
        "we",
        "our",
        "you",
        "i",
        "not",
        "no",
        "never",
        "n't",
        "than",
        "then",
        "there",
        "also",
        "said",
        "says",
        "would",
        "will",
        "could",
        "should",
        "can",
        "may",
        "might",
        "about",
        "after",
        "before",
        "over",
        "into",
        "out",
        "up",
        "more",
        "most",
        "such",
        "which",
        "who",
        "whom",
        "whose",
        "what",
        "when",
        "where",
        "while",
        "during",
        "between",
        "both",
        "any",
        "all",
        "some",
        "other",
    ]
)
_NEGATION_WORDS = frozenset({"not", "n't", "never", "no", "none", "nothing", "neither", "nor", "denied", "denies"})
_ANTONYMS = {
    frozenset(p)
    for p in (
        ("better", "worse"),
        ("best", "worst"),
        ("peace", "war"),
        ("positive", "negative"),
        ("increase", "decrease"),
        ("raise", "cut"),
        ("up", "down"),
        ("win", "lose"),
        ("support", "oppose"),
        ("accept", "reject"),
        ("agree", "disagree"),
        ("strong", "weak"),
        ("success", "failure"),
        ("good", "bad"),
        ("more", "less"),
        ("always", "never"),
        ("will", "won't"),
        ("can", "cannot"),
        ("friend", "enemy"),
        ("safe", "dangerous"),
    )
}
_LOCATIVE_PLACE = re.compile(r"\b(?:in|at|inside|near)\s+(?:the\s+)?([A-Z][\w.]*(?:\s+[A-Z][\w.]*)*)")
_CLAUSE_BREAK = re.compile(r"[,;:—–]|\b(?:after|before|following|while|when|whereas|as|but|and then)\b")
_QUOTED = re.compile(r"“[^”]*”|\"[^\"]*\"")
_WORD = re.compile(r"[a-z0-9%]+(?:'t)?")


def _stem(word: str) -> str:
    # No lemmatizer: a fixed prefix folds "agreed"/"agreement"/"agrees" well enough for overlap counts.
    return word[:6]


def _content(text: str) -> set[str]:
    return {_stem(w) for w in _WORD.findall(text.lower()) if w not in _STOPWORDS and len(w) > 2}


def _names(claim_or_fact: Claim | Fact) -> list[str]:
    return [*claim_or_fact.slots.people, *claim_or_fact.slots.orgs]


def _shares_subject(claim: Claim, fact: Fact, people: list[str]) -> bool:
    places = {normalise_place(p) for p in claim.slots.places}
    return bool(
        person_overlap([*people, *claim.slots.orgs], _names(fact))
        or places & {normalise_place(p) for p in fact.slots.places}
    )


def _bound(quantity: Quantity) -> str:
    """How a figure is qualified: "" exact, ">=" a floor ("more than 90"), "<=" a ceiling, "~" approximate."""
    text = quantity.text.lower()
    if text[:1].isdigit():
        return ""
    if text.startswith(_FLOORS):
        return ">="
    if text.startswith(_CEILINGS):
        return "<="
    return "~"


def _admits(bounded: Quantity, value: float) -> bool:
    bound = _bound(bounded)
    if bound == ">=":
        return value >= bounded.value
    if bound == "<=":
        return value <= bounded.value
    return abs(value - bounded.value) <= APPROXIMATE_SPREAD * max(abs(value), abs(bounded.value))


def _quantities_agree(a: Quantity, b: Quantity) -> bool:
    if a.value == b.value:
        return True
    # A whole figure may be the rounding of one with cents or decimals ("$10" for "$9.99").
    if any(
        q.value.is_integer() and not o.value.is_integer() and q.value == round(o.value) for q, o in ((a, b), (b, a))
    ):
        return True
    return any(_bound(q) and _admits(q, other.value) for q, other in ((a, b), (b, a)))


def _quantity_key(quantity: Quantity, text: str) -> tuple[str, str] | None:
    """What a figure measures: its unit and what it counts; for money, what it is a rate of when it is one
    ("$9.99 monthly rate" and "costs $14.99 a month" are both a monthly price, whatever noun follows)."""
    # A bare number with nothing counted ("12 out of 10") has no identity to compare.
    if not quantity.unit and not quantity.counts:
        return None
    if quantity.unit in _MONEY:
        span = _span(text, quantity)
        period = rate_period(text, span[1]) if span else ""
        # The small model often leaves the currency sign out of the entity: any money meets any money.
        return ("money", f"per {period}") if period else ("money", quantity.counts)
    return quantity.unit, quantity.counts


_MONEY = frozenset({"money", "USD", "EUR", "GBP", "CNY", "JPY", "INR"})


def _span(text: str, quantity: Quantity) -> tuple[int, int] | None:
    """Where a figure stands in its sentence: the whole number, not a digit inside another ("3" in "5.3")."""
    number = re.search(r"\d[\d,.]*\d|\d|[A-Za-z]+$", quantity.text)
    if not number:
        return None
    found = re.search(rf"(?<![\w.,]){re.escape(number.group(0))}(?![\d]|[.,]\d)", text)
    return found.span() if found else None


def _surroundings(text: str, quantity: Quantity) -> set[str]:
    span = _span(text, quantity)
    if span is None:
        return set()
    before = _WORD.findall(text[: span[0]].lower())[-QUANTITY_WINDOW:]
    after = _WORD.findall(text[span[1] :].lower())[:QUANTITY_WINDOW]
    return {_stem(w) for w in (*before, *after) if w not in _STOPWORDS and len(w) > 2 and not w[0].isdigit()}


def _number_conflict(claim: Claim, fact: Fact, words_needed: int) -> str | None:
    """A figure measuring what one of the fact's figures measures (same unit, same counted thing,
    ``words_needed`` words around it in common) with a value that none of the fact's figures admits."""
    for ours in claim.slots.quantities:
        key = _quantity_key(ours, claim.text)
        if key is None or any(_quantities_agree(ours, t) for t in fact.slots.quantities):
            continue
        context = _surroundings(claim.text, ours)
        for theirs in fact.slots.quantities:
            if _quantity_key(theirs, fact.text) != key:
                continue
            shared = context & _surroundings(fact.text, theirs)
            # Two prices of one period for the same named thing are one price: the period says what is measured.
            needed = words_needed - SAME_QUANTITY_WORDS if key[1].startswith("per ") else words_needed
            if len(shared) >= needed and not any(_quantities_agree(q, theirs) for q in claim.slots.quantities):
                return f"{ours.text} where the story has {theirs.text}"
    return None


def _update_of(claim: Claim, fact: Fact) -> str | None:
    """A figure for what one of the fact's figures measures, told as it stands now or as it moved ("now
    offers 26 games, up from the 22", "read more than 250,000 times by Friday"): the value changed over
    time, which is news, not a disagreement. A floor ("more than 30,000") is superseded too."""
    if not tells_change(claim.text):
        return None
    for ours in claim.slots.quantities:
        key = _quantity_key(ours, claim.text)
        if key is None or any(ours.value == t.value for t in fact.slots.quantities):
            continue
        context = _surroundings(claim.text, ours)
        for theirs in fact.slots.quantities:
            if _quantity_key(theirs, fact.text) != key or abs(ours.value - theirs.value) <= APPROXIMATE_SPREAD * max(
                abs(ours.value), abs(theirs.value)
            ):
                continue
            # The time cue is evidence of its own that both figures track one value: no shared name needed.
            if len(context & _surroundings(fact.text, theirs)) >= SAME_QUANTITY_WORDS:
                return f"{ours.text} where the story had {theirs.text}"
    return None


def _coverage(claim: Claim, fact: Fact, ignore: tuple[str, ...] = ()) -> float:
    """The share of the claim's words (less those of ``ignore``) that the fact also uses."""
    ours = _content(claim.text) - _content(" ".join(ignore))
    return len(ours & _content(fact.text)) / len(ours) if ours else 0.0


def _date_conflict(claim: Claim, fact: Fact) -> str | None:
    ours, theirs = claim.slots.dates, fact.slots.dates
    new = [d for d in ours if not any(dates_compatible(d, t) for t in theirs)]
    old = [t for t in theirs if not any(dates_compatible(d, t) for d in ours)]
    # Every date must differ: a sentence that shares one date with the fact may just add a second event.
    if ours and theirs and len(new) == len(ours) and len(old) == len(theirs):
        return f"{new[0]} where the story has {old[0]}"
    return None


def _locatives(text: str) -> list[str]:
    return [m.group(1).rstrip(".") for m in _LOCATIVE_PLACE.finditer(text)]


def _event_places(text: str, people: list[str], context: list[str]) -> dict[str, set[str]]:
    """Where each person was, as far as one sentence says. An "in/at PLACE" belongs to the people named
    in its own clause before it ("talks with Xi in South Korea"), else to the last person named before
    it, else the first after it, else to the people of the sentence before ("The meeting took place…")."""
    mentions = sorted((m.start(), p) for p in people for m in re.finditer(re.escape(p), text))
    located: dict[str, set[str]] = {}
    for match in _LOCATIVE_PLACE.finditer(text):
        clause_start = max((b.end() for b in _CLAUSE_BREAK.finditer(text, 0, match.start())), default=0)
        in_clause = [p for at, p in mentions if clause_start <= at < match.start()]
        before = [p for at, p in mentions if at < match.start()]
        after = [p for at, p in mentions if at > match.start()]
        owners = in_clause or before[-1:] or after[:1] or context
        for owner in owners:
            located.setdefault(owner, set()).add(match.group(1).rstrip("."))
    return located


def _place_conflict(claim: Claim, fact: Fact, similarity: float, context: list[str]) -> str | None:
    """The same people of one event placed in different countries. Different days are different events."""
    if _date_conflict(claim, fact):
        return None
    ours = _event_places(claim.text, claim.slots.people, context)
    theirs = _event_places(fact.text, fact.slots.people, [])
    clashes: list[tuple[str, str, str]] = []
    for person, places in ours.items():
        for other, known in theirs.items():
            if not same_person(person, other):
                continue
            pairs = [(p, k) for p in places for k in known if places_conflict(p, k)]
            # Someone can be in two places in one sentence: conflict only when none of them agree.
            if not pairs or len(pairs) < len(places) * len(known):
                return None
            clashes.append((person, *pairs[0]))
    # One shared person in two countries may be two trips; the pair that met is one meeting.
    if len(clashes) >= 2 or (clashes and similarity >= SAME_EVENT):
        person, place, known_place = clashes[0]
        return f"{person} in {place} where the story has {known_place}"
    return None


def _person_conflict(claim: Claim, fact: Fact) -> str | None:
    """Someone else in the same office. An office of no named country ("President Trump", "President
    Xi") counts only when the rest of both sentences is the same."""
    ours = roles(claim.text, tuple(claim.slots.people))
    theirs = roles(fact.text, tuple(fact.slots.people))
    for key, person in ours.items():
        known = theirs.get(key)
        if not known or same_person(person, known):
            continue
        role, country = key
        if country or _coverage(claim, fact, ignore=(person,)) >= SAME_WORDING:
            return f"{person} as {(country + ' ') if country else ''}{role} where the story has {known}"
    return None


def _negation_conflict(claim: Claim, fact: Fact, similarity: float) -> str | None:
    if claim.slots.negated == fact.slots.negated or similarity < SAME_STATEMENT:
        return None
    if _coverage(claim, fact) >= COVERED:
        return "negated" if claim.slots.negated else "affirmed where the story has a denial"
    return None


def _words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def _meaning_changed(removed: list[str], added: list[str]) -> bool:
    if (set(removed) | set(added)) & _NEGATION_WORDS:
        return True
    if any(w.isdigit() for w in removed) and any(w.isdigit() for w in added):
        return True
    return any(frozenset((r, a)) in _ANTONYMS for r in removed for a in added)


def _replaced_words(matcher: SequenceMatcher) -> bool:
    """Whether a quotation had words swapped for others, not merely cut short or run on: "Hold onto your
    feather bedding" made "Get rid of your feather bedding" is another statement in the same mouth."""
    a, b = matcher.a, matcher.b
    return any(
        tag == "replace"
        and {w for w in a[i1:i2] if w not in _STOPWORDS}
        and {w for w in b[j1:j2] if w not in _STOPWORDS}
        # An editor's bracket ("min[ute]") splits a word without changing it.
        and "".join(a[i1:i2]) != "".join(b[j1:j2])
        for tag, i1, i2, j1, j2 in matcher.get_opcodes()
    )


def _quote_conflict(claim: Claim, fact: Fact) -> str | None:
    for ours in claim.slots.quotes:
        for theirs in fact.slots.quotes:
            named = ours.speaker and theirs.speaker
            if named and not same_person(ours.speaker, theirs.speaker):
                continue
            a, b = _words(theirs.text), _words(ours.text)
            matcher = SequenceMatcher(None, a, b, autojunk=False)
            if a == b or matcher.ratio() < QUOTE_SAME_WORDING:
                continue
            removed = [w for tag, i1, i2, _, _ in matcher.get_opcodes() if tag != "equal" for w in a[i1:i2]]
            added = [w for tag, _, _, j1, j2 in matcher.get_opcodes() if tag != "equal" for w in b[j1:j2]]
            # An unnamed speaker on either side: only a long quotation kept nearly word for word is the same one.
            if not named and (matcher.ratio() < QUOTE_KEPT or len(a) < QUOTE_KEPT_WORDS):
                continue
            if _meaning_changed(removed, added) or _replaced_words(matcher):
                return f"{ours.speaker or 'the same speaker'} quoted as “{ours.text}”"
    return None


def _quote_speaker_conflict(claim: Claim, fact: Fact) -> str | None:
    """The same quotation, word for word, put in another named person's mouth."""
    for ours in claim.slots.quotes:
        if not ours.speaker or ours.speaker not in claim.slots.people or len(_words(ours.text)) < QUOTE_KEPT_WORDS:
            continue
        # Who the fact names outside its quotations: someone named inside one is spoken of, not speaking.
        unquoted = _QUOTED.sub(" ", fact.text)
        others = [p for p in fact.slots.people if p in unquoted]
        for theirs in fact.slots.quotes:
            matcher = SequenceMatcher(None, _words(theirs.text), _words(ours.text), autojunk=False)
            if matcher.ratio() < QUOTE_KEPT or not others or person_overlap([ours.speaker], fact.slots.people):
                continue
            return f"{ours.speaker} quoted where the story has {others[0]}"
    return None


def conflict(claim: Claim, fact: Fact, similarity: float, context: list[str]) -> tuple[str, str] | None:
    """(kind, detail) when ``claim`` contradicts ``fact``; ``context`` names the people a claim that
    names nobody is about (those of the sentence before it). Each kind brings its own evidence that
    both sentences speak of the same thing; the sentence similarity only has to make it plausible."""
    people = claim.slots.people or context
    same_subject = _shares_subject(claim, fact, people)
    checks = (
        ("quote", lambda: _quote_conflict(claim, fact)),
        ("negation", lambda: same_subject and _negation_conflict(claim, fact, similarity)),
        ("number", lambda: _number_conflict(claim, fact, SAME_QUANTITY_WORDS + (not same_subject))),
        ("place", lambda: _place_conflict(claim, fact, similarity, context)),
        (
            "person",
            lambda: (
                _person_conflict(claim, fact)
                or office_conflict(claim.text, fact.text)
                or _quote_speaker_conflict(claim, fact)
            ),
        ),
        # A date alone says little about which event it belongs to: the sentences must say the same otherwise.
        (
            "date",
            lambda: (
                same_subject
                and similarity >= SAME_EVENT
                and _coverage(claim, fact) >= COVERED
                and _date_conflict(claim, fact)
            ),
        ),
    )
    for kind, check in checks:
        detail = check()
        if detail:
            return kind, detail
    return None


def _restates(claim: Claim, candidates: list[Fact], similarity: float) -> bool:
    """Whether the nearest facts already hold everything the claim says: its names, places, figures and
    dates, and (unless the nearest fact says the same in other words) most of its words."""
    names = [*claim.slots.people, *claim.slots.orgs]
    known_names = [n for f in candidates for n in _names(f)]
    if len(person_overlap(names, known_names)) < len(names):
        return False
    # Only where things happened counts as news; "the US secretary" names no new place.
    known_places = {normalise_place(p) for f in candidates for p in f.slots.places}
    if {normalise_place(p) for p in _locatives(claim.text)} - known_places:
        return False
    known_numbers = [q for f in candidates for q in f.slots.quantities]
    if any(not any(_quantities_agree(q, k) for k in known_numbers) for q in claim.slots.quantities):
        return False
    known_dates = [d for f in candidates for d in f.slots.dates]
    if any(not any(dates_compatible(d, k) for k in known_dates) for d in claim.slots.dates):
        return False
    if similarity >= RESTATES:
        return True
    words = _content(claim.text)
    known_words = set().union(*(_content(f.text) for f in candidates))
    return not words or len(words & known_words) / len(words) >= COVERED


def _normal_text(text: str) -> str:
    return " ".join(_WORD.findall(text.lower()))


def _copied_from(facts: list[Fact], claims: list[Claim], similarity: np.ndarray, article_id: str) -> str | None:
    """The earlier article this one repeats sentence for sentence (syndication, light rewrites).

    An edited article repeats its own earlier version; that is a revision, not a copy.
    """
    repeats: dict[str, int] = {}
    for i, claim in enumerate(claims):
        origins: set[str] = set()
        for j in np.flatnonzero(similarity[i] >= NEAR_COPY):
            fact = facts[j]
            for ref in (fact.first, *fact.confirmations):
                if ref.article_id == article_id or ref.article_id in origins:
                    continue
                matcher = SequenceMatcher(None, _normal_text(claim.text), _normal_text(ref.text))
                # quick_ratio bounds ratio from above and costs a fraction of it.
                if matcher.quick_ratio() >= COPY_TEXT_RATIO and matcher.ratio() >= COPY_TEXT_RATIO:
                    origins.add(ref.article_id)
        for origin in origins:
            repeats[origin] = repeats.get(origin, 0) + 1
    if not repeats:
        return None
    origin, count = max(repeats.items(), key=lambda item: item[1])
    return origin if count >= max(COPY_MIN_CLAIMS, COPY_SHARE * len(claims)) else None


def _context(claims: list[Claim]) -> list[tuple[list[str], int | None]]:
    """For each claim naming nobody: the people of the nearest earlier claim that names any, and
    that claim's index (None for claims that name people themselves, or when none came before)."""
    contexts: list[tuple[list[str], int | None]] = []
    last: int | None = None
    for i, claim in enumerate(claims):
        if claim.slots.people:
            contexts.append(([], None))
            last = i
        else:
            contexts.append((claims[last].slots.people if last is not None else [], last))
    return contexts


def _holds(kept: Claim, claim: Claim) -> bool:
    """Whether ``kept`` already states every name, place, figure and date that ``claim`` states."""
    names = [*claim.slots.people, *claim.slots.orgs]
    if len(person_overlap(names, [*kept.slots.people, *kept.slots.orgs])) < len(names):
        return False
    if {normalise_place(p) for p in claim.slots.places} - {normalise_place(p) for p in kept.slots.places}:
        return False
    if any(not any(_quantities_agree(q, k) for k in kept.slots.quantities) for q in claim.slots.quantities):
        return False
    return all(any(dates_compatible(d, k) for k in kept.slots.dates) for d in claim.slots.dates)


def _add_new(comparison: Comparison, claim: Claim) -> None:
    """Two sentences of one article saying the same new thing make one fact, kept in the fuller wording.

    Similar wording is not the same content: a headline line that restates the lead ("Quake kills 23
    in Peru") is as close to it as a paraphrase, yet the lead may carry a figure the headline lacks
    ("and injured 140"). A sentence is folded into an earlier one only when that one holds all its
    values; when it is the other way round, the fuller sentence takes the earlier one's place.
    """
    if claim.vector is not None:
        for i, other in enumerate(comparison.new_facts):
            if other.vector is None or float(claim.vector @ other.vector) < RESTATES:
                continue
            if _holds(other, claim):
                return
            if _holds(claim, other):
                comparison.new_facts[i] = claim
                return
    comparison.new_facts.append(claim)


def compare(ledger: Ledger, claims: list[Claim], article: Article) -> Comparison:
    """How the article's claims (with vectors) relate to the ledger; the ledger is not changed."""
    comparison = Comparison()
    facts = [f for f in ledger.facts if f.vector is not None]
    usable = [c for c in claims if c.vector is not None]
    if not facts or not usable:
        for claim in usable:
            _add_new(comparison, claim)
        return comparison
    similarity = np.stack([c.vector for c in usable]) @ np.stack([f.vector for f in facts]).T
    comparison.copy_of = _copied_from(facts, usable, similarity, article.id)
    for claim, row, (context, source) in zip(usable, similarity, _context(usable), strict=True):
        if source is not None:
            # "The meeting took place in Vietnam" is about what the sentence naming the people was about.
            row = np.maximum(row, similarity[source])
        order = [j for j in np.argsort(-row)[:TOP_K] if row[j] >= CANDIDATE]
        # Of the facts a claim conflicts with, the one reported first: later sentences repeat the original.
        first = min(
            (j for j in order if conflict(claim, facts[j], float(row[j]), context)),
            key=lambda j: (facts[j].first.seen_at, j),
            default=None,
        )
        found = None if first is None else (facts[first], conflict(claim, facts[first], float(row[first]), context))
        update = next(
            ((facts[j], detail) for j in order if (detail := _update_of(claim, facts[j]))),
            None,
        )
        if update and (not found or found[1][0] in ("number", "date")):
            comparison.updates.append((claim, update[0]))
            comparison.details[claim.id] = update[1]
        elif found:
            fact, (kind, detail) = found
            comparison.contradictions.append((claim, fact, kind))
            comparison.details[claim.id] = detail
        elif comparison.copy_of:
            continue
        elif (related := [facts[j] for j in order if row[j] >= RELATED]) and _restates(
            claim, related, float(row[order[0]])
        ):
            comparison.corroborations.append((claim, related[0]))
        else:
            _add_new(comparison, claim)
    return comparison


def _ref(article: Article, seen_at: str, text: str = "") -> SourceRef:
    return SourceRef(article_id=article.id, source=article.source, url=article.url, seen_at=seen_at, text=text)


def _fact(claim: Claim, article: Article, seen_at: str) -> Fact:
    return Fact(id=claim.id, text=claim.text, first=_ref(article, seen_at, claim.text), slots=claim.slots,
                vector=claim.vector)


def record(
    ledger: Ledger, comparison: Comparison, article: Article, seen_at: str, revision: str = "", note: str = ""
) -> None:
    """Write the comparison into the ledger. Running it twice for one article (and revision) changes nothing more.

    ``note`` is kept on the article's entry (``SEED_NOTE`` marks a watched story's seed document).
    """
    if any(ref.article_id == article.id and ref.revision == revision for ref in ledger.articles):
        return
    by_id = {fact.id: fact for fact in ledger.facts}
    for claim in comparison.new_facts:
        ledger.facts.append(_fact(claim, article, seen_at))
    for claim, fact in comparison.corroborations:
        held = by_id.get(fact.id, fact)
        # One confirmation per independent article: a second sentence of it restating the fact adds nothing.
        reporters = {held.first.article_id, *(c.article_id for c in held.confirmations)}
        if article.id not in reporters:
            held.confirmations.append(_ref(article, seen_at, claim.text))
    for claim, fact in comparison.updates:
        # The new value is the story's current one; the superseded fact stays as its history.
        ledger.facts.append(_fact(claim, article, seen_at))
        ledger.updates.append(
            Update(
                fact_id=claim.id,
                supersedes=fact.id,
                claim=_ref(article, seen_at, claim.text),
                previous=fact.first,
                detail=comparison.details.get(claim.id, ""),
            )
        )
    for claim, fact, kind in comparison.contradictions:
        ledger.contradictions.append(
            Contradiction(
                kind=kind,
                fact_id=fact.id,
                claim=_ref(article, seen_at, claim.text),
                conflicts_with=fact.first,
                detail=comparison.details.get(claim.id, ""),
            )
        )
    reference = _ref(article, seen_at, note or (f"copy of {comparison.copy_of}" if comparison.copy_of else ""))
    reference.revision = revision
    ledger.articles.append(reference)


# Marks a seed document's entry in ``Ledger.articles``: its claims are the story's baseline.
SEED_NOTE = "seed document"


def _publication_order(seed: AnalysedArticle) -> tuple[bool, str]:
    # Undated seeds come after the dated ones, in the order given (the sort is stable).
    return not seed.article.published, seed.article.published or ""


def record_seeds(ledger: Ledger, seeds: list[AnalysedArticle], registered_at: str) -> None:
    """Record a watched story's seed documents as its baseline facts, before any article arrives.

    Each seed is compared with the seeds published before it and recorded like any article, so the
    first feed article meets what the seeds say (a conflicting figure is a contradiction, not news),
    and seeds that disagree with each other leave that disagreement in the ledger, as a reader who
    took them in order would note it. A seed is dated by its publication date, else ``registered_at``.
    Seeds the ledger holds already are skipped: registering the story again changes nothing.
    """
    known = {ref.article_id for ref in ledger.articles}
    for seed in sorted(seeds, key=_publication_order):
        if seed.article.id in known:
            continue
        comparison = compare(ledger, seed.claims, seed.article)
        record(ledger, comparison, seed.article, seen_at=seed.article.published or registered_at, note=SEED_NOTE)
        known.add(seed.article.id)


def is_seed(ledger: Ledger, article_id: str) -> bool:
    """Whether the article is one of the seed documents the ledger was started from."""
    return any(ref.article_id == article_id and ref.text == SEED_NOTE for ref in ledger.articles)


def seed_arrival(ledger: Ledger, claims: list[Claim], article: Article) -> Comparison:
    """A seed document that now arrives through a feed: its sentences are the baseline, so it adds nothing.

    It neither reports its own sentences as new nor meets them as contradictions. What it carries are
    the disagreements with earlier seeds that recording the baseline found: no alert has told them yet.
    """
    comparison = Comparison()
    facts = {fact.id: fact for fact in ledger.facts}
    own = {claim.text: claim for claim in claims}
    for item in ledger.contradictions:
        fact = facts.get(item.fact_id)
        if item.claim.article_id != article.id or fact is None:
            continue
        claim = own.get(item.claim.text) or Claim(
            id=stable_id(article.id, item.claim.text), article_id=article.id, text=item.claim.text
        )
        comparison.contradictions.append((claim, fact, item.kind))
        comparison.details[claim.id] = item.detail
    return comparison
