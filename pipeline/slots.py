"""Comparable values read from one claim: quantities, dates, negation, quotes and who said it.

Works on a spaCy span whose document ran the tagger and the entity recogniser. Values come out
normalised ("57% to" -> 57 %, "Saturday" -> the ISO date it was) so the ledger compares values,
not spellings.
"""

from __future__ import annotations

import re
from datetime import date, timedelta

from spacy.tokens import Span

from pipeline.models import Quantity

_QUALIFIERS = (
    "more than",
    "over",
    "at least",
    "nearly",
    "almost",
    "about",
    "around",
    "some",
    "up to",
    "less than",
    "fewer than",
    "roughly",
    "approximately",
    "under",
    "just over",
    "just under",
    "close to",
)
# A place in capitals, an optional date and news agency, then a dash: "BEIJING, Nov. 2 (Reuters) -".
_DATELINE = re.compile(
    r"^[A-Z][A-Z .'’-]+(?:,\s*[A-Z][a-z]{2,8}\.? \d{1,2}(?:, \d{4})?)?(?:\s*\([^)]{1,30}\))?\s+[—–-]{1,2}\s+"
)
_QUALIFIER_RE = re.compile(rf"^({'|'.join(_QUALIFIERS)})\b", re.I)
_NUMBER_RE = re.compile(r"\d[\d,]*(?:\.\d+)?")
_WORD_NUMBERS = {
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "thirteen": 13,
    "fourteen": 14,
    "fifteen": 15,
    "sixteen": 16,
    "seventeen": 17,
    "eighteen": 18,
    "nineteen": 19,
    "twenty": 20,
    "thirty": 30,
    "forty": 40,
    "fifty": 50,
    "sixty": 60,
    "seventy": 70,
    "eighty": 80,
    "ninety": 90,
    "hundred": 100,
    "dozen": 12,
    "dozens": 24,
}
_SCALES = {"thousand": 1e3, "million": 1e6, "billion": 1e9, "trillion": 1e12, "bn": 1e9, "m": 1e6}
_CURRENCIES = {
    "$": "USD",
    "us$": "USD",
    "dollar": "USD",
    "dollars": "USD",
    "usd": "USD",
    "€": "EUR",
    "euro": "EUR",
    "euros": "EUR",
    "£": "GBP",
    "pound": "GBP",
    "pounds": "GBP",
    "yuan": "CNY",
    "yen": "JPY",
    "rupees": "INR",
}
_QUANTITY_LABELS = frozenset({"CARDINAL", "PERCENT", "MONEY", "QUANTITY"})

_MONTHS = {
    m: i
    for i, m in enumerate(
        [
            "january",
            "february",
            "march",
            "april",
            "may",
            "june",
            "july",
            "august",
            "september",
            "october",
            "november",
            "december",
        ],
        1,
    )
}
_MONTHS.update({m[:3]: i for m, i in list(_MONTHS.items())})
_MONTHS["sept"] = 9
_WEEKDAYS = {d: i for i, d in enumerate(["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"])}
_MONTH_RE = "|".join(sorted(_MONTHS, key=len, reverse=True))
_DAY_MONTH_YEAR = re.compile(
    rf"\b(?:(?P<day1>\d{{1,2}})(?:st|nd|rd|th)?\s+(?:of\s+)?)?(?P<month>{_MONTH_RE})\.?"
    rf"(?:\s+(?P<day2>\d{{1,2}})(?:st|nd|rd|th)?)?(?:,?\s+(?P<year>\d{{4}}))?\b",
    re.I,
)
_ISO_DATE = re.compile(r"\b(\d{4})-(\d{2})-(\d{2})\b")
_YEAR = re.compile(r"\b(1[89]\d{2}|20\d{2})\b")
_RELATIVE_DAYS = {"today": 0, "tonight": 0, "this morning": 0, "yesterday": -1, "last night": -1, "tomorrow": 1}
_FUTURE_WORDS = frozenset(
    {"will", "would", "'ll", "shall", "scheduled", "upcoming", "plan", "plans", "planned", "expected"}
)
_AHEAD_WORDS = frozenset({"next", "coming", "upcoming", "this"})

_NEGATIONS = frozenset(
    {"not", "n't", "never", "no", "neither", "nor", "nobody", "nothing", "none", "denied", "denies", "deny", "denying"}
)
_SPEECH_VERBS = frozenset(
    {
        "said",
        "says",
        "say",
        "told",
        "tells",
        "wrote",
        "writes",
        "added",
        "adds",
        "stated",
        "states",
        "announced",
        "announces",
        "reported",
        "reports",
        "according",
        "quoted",
        "indicates",
        "indicated",
        "noted",
        "claimed",
        "claims",
        "declared",
        "insisted",
        "argued",
        "explained",
        "confirmed",
        "tweeted",
        "posted",
    }
)
_QUOTE_RE = re.compile(r"“([^”]{3,})”|\"([^\"]{3,})\"")
_MIN_QUOTE_WORDS = 3
_SPEAKER_GAP_BEFORE = 3
_SPEAKER_GAP_AFTER = 2


def _qualifier(span: Span) -> str:
    """ "more than" inside the entity or just before it."""
    inside = _QUALIFIER_RE.match(span.text)
    if inside:
        return inside.group(1).lower()
    before = span.doc[max(span.start - 3, 0) : span.start].text.lower()
    return next((q for q in _QUALIFIERS if before.endswith(q)), "")


def _value(text: str) -> float | None:
    lowered = text.lower().replace(",", "")
    match = _NUMBER_RE.search(lowered)
    words = re.findall(r"[a-z]+", lowered)
    if match:
        value = float(match.group(0))
        rest = lowered[match.end() :].split()
    else:
        numbers = [_WORD_NUMBERS[w] for w in words if w in _WORD_NUMBERS]
        if not numbers:
            return None
        value = float(
            numbers[0] if len(numbers) == 1 else numbers[0] * numbers[1] if numbers[1] == 100 else sum(numbers)
        )
        rest = words
    scale = next((_SCALES[w] for w in rest[:2] if w in _SCALES), 1.0)
    return value * scale


def _counted_noun(span: Span) -> str:
    """What a bare number counts: the last noun of the phrase right after it ("90 communication channels",
    "2,000 Self-Defense Forces troops")."""
    noun = ""
    for token in span.doc[span.end : span.end + 6]:
        if token.pos_ == "NOUN" or (token.pos_ == "PROPN" and not noun):
            noun = token.lower_
        elif token.pos_ not in ("ADJ", "PROPN") and token.text != "-":
            break
    # No lemmatizer in the pipeline: fold plain plurals so "channel" and "channels" meet.
    if noun.endswith("ies"):
        return noun[:-3] + "y"
    return noun[:-1] if noun.endswith("s") and not noun.endswith("ss") else noun


def _unit(span: Span) -> str:
    lowered = span.text.lower()
    if span.label_ == "PERCENT" or "%" in lowered or "percent" in lowered or "per cent" in lowered:
        return "%"
    if span.label_ == "MONEY":
        symbol = re.match(r"^\W*(us\$|[$€£])", lowered)
        if symbol:
            return _CURRENCIES[symbol.group(1)]
        return next((_CURRENCIES[w] for w in re.findall(r"[a-z$€£]+", lowered) if w in _CURRENCIES), "money")
    if span.label_ == "QUANTITY":
        words = [w for w in re.findall(r"[a-z]+", lowered) if w not in _WORD_NUMBERS and w not in _SCALES]
        return words[-1] if words else ""
    return ""


def quantities(span: Span) -> list[Quantity]:
    """Numbers with units, normalised: "57% to" (a span the small model over-reaches on) is 57 %."""
    found: list[Quantity] = []
    # The small model misses some plain figures ("sent 800 troops"); take digits outside any entity too.
    missed = [
        Span(span.doc, t.i, t.i + 1, label="CARDINAL")
        for t in span
        if not t.ent_type_ and t.like_num and t.text[:1].isdigit()
    ]
    for ent in [*span.ents, *missed]:
        if ent.label_ not in _QUANTITY_LABELS:
            continue
        value = _value(ent.text)
        if value is None:
            continue
        unit = _unit(ent)
        counts = _counted_noun(ent) if unit in ("", "money") or ent.label_ == "CARDINAL" else ""
        qualifier = _qualifier(ent)
        number = _NUMBER_RE.search(ent.text)
        core = number.group(0) if number else ent.text.split()[-1]
        text = " ".join(part for part in (qualifier, core + ("%" if unit == "%" else "")) if part)
        found.append(Quantity(value=value, unit=unit, text=text, counts=counts))
    return found


def _is_future(sentence: Span, ent: Span) -> bool:
    """Whether a date lies ahead: "next Monday", or a month in a sentence about what will happen.
    A bare weekday is taken as past, which is how news copy uses it ("said Saturday")."""
    before = {t.lower_ for t in sentence.doc[max(ent.start - 2, sentence.start) : ent.start]}
    if before & _AHEAD_WORDS - {"this"}:
        return True
    has_month = any(w in _MONTHS for w in ent.text.lower().split())
    return has_month and any(t.lower_ in _FUTURE_WORDS for t in sentence)


def _month_date(year: int | None, month: int, day: int | None, published: date | None, future: bool) -> str:
    if year is None and published is not None:
        year = published.year
        # A month without a year is the nearest one in the sentence's direction of time.
        if future and (month, day or 31) < (published.month, published.day):
            year += 1
        elif not future and (month, day or 1) > (published.month, published.day):
            year -= 1
    if year is None:
        return f"--{month:02d}" + (f"-{day:02d}" if day else "")
    return f"{year:04d}-{month:02d}" + (f"-{day:02d}" if day else "")


def _resolve(text: str, published: date | None, future: bool) -> list[str]:
    lowered = text.lower()
    iso = _ISO_DATE.search(text)
    if iso:
        return [iso.group(0)]
    resolved = []
    for match in _DAY_MONTH_YEAR.finditer(text):
        day = match.group("day1") or match.group("day2")
        year = match.group("year")
        if day and not 1 <= int(day) <= 31:
            continue
        resolved.append(
            _month_date(
                int(year) if year else None,
                _MONTHS[match.group("month").lower()],
                int(day) if day else None,
                published,
                future,
            )
        )
    if resolved:
        return resolved
    years = _YEAR.findall(text)
    if years:
        return years
    if published is None:
        return []
    for word, offset in _RELATIVE_DAYS.items():
        if word in lowered:
            return [(published + timedelta(days=offset)).isoformat()]
    for word, weekday in _WEEKDAYS.items():
        if word in lowered:
            delta = (weekday - published.weekday()) % 7 if future else -((published.weekday() - weekday) % 7)
            return [(published + timedelta(days=delta)).isoformat()]
    if "last year" in lowered:
        return [str(published.year - 1)]
    if "next year" in lowered:
        return [str(published.year + 1)]
    if "this year" in lowered:
        return [str(published.year)]
    return []


def dateline_length(text: str) -> int:
    """Characters of a leading dateline ("WASHINGTON, November 2, 2025 — "), 0 when there is none."""
    found = _DATELINE.match(text)
    return found.end() if found else 0


def dates(span: Span, published: date | None) -> list[str]:
    """ISO dates (or "YYYY-MM", "YYYY", "--MM-DD" when the year is unknown) of the DATE entities.

    A dateline's date is when the report was filed, not when anything in the sentence happened.
    """
    found: list[str] = []
    dateline_end = span.start_char + dateline_length(span.text)
    for ent in span.ents:
        if ent.label_ in ("DATE", "TIME") and ent.end_char > dateline_end:
            resolved = _resolve(ent.text, published, _is_future(span, ent))
            found.extend(d for d in resolved if d not in found)
    return found


def dates_compatible(a: str, b: str) -> bool:
    """Whether two dates can name the same day: equal, one coarser than the other, or a yearless match."""
    if a.startswith("--") or b.startswith("--"):
        # Compare what both know: month and day ("--10-30" against "2025-10-30" reads "10-30" twice).
        a, b = (d[2:] if d.startswith("--") else d[5:] for d in (a, b))
    return a.startswith(b) or b.startswith(a)


def is_negated(span: Span) -> bool:
    return any(t.lower_ in _NEGATIONS for t in span)


def quotes(text: str) -> list[str]:
    """Quoted passages long enough to be statements; scare quotes ("troublemaker") are not."""
    found = [(m.group(1) or m.group(2)).strip() for m in _QUOTE_RE.finditer(text)]
    return [q for q in found if len(q.split()) >= _MIN_QUOTE_WORDS]


def _outside_quotes(span: Span) -> list[tuple[int, int]]:
    """Token ranges of a span that are not inside quotation marks."""
    ranges, start, inside = [], span.start, False
    for token in span:
        if token.text in ('"', "“", "”"):
            if not inside and token.i > start:
                ranges.append((start, token.i))
            inside = not inside if token.text == '"' else token.text == "“"
            start = token.i + 1
    if not inside and start < span.end:
        ranges.append((start, span.end))
    return ranges


def speaker(span: Span) -> tuple[str | None, str | None]:
    """(who is quoted, who the claim is attributed to): the person or organisation named right next to
    a speech verb outside the quotes ("Hegseth said", "said Hegseth", "quoted Dong"), and the outlet of
    "according to X" when there is one. A pronoun or a description ("he added", "the official wrote")
    gives no name here; the caller carries the last speaker over."""
    outside = _outside_quotes(span)
    named = [
        e for e in span.ents if e.label_ in ("PERSON", "ORG") and any(a <= e.start and e.end <= b for a, b in outside)
    ]
    according = next((e for e in named if e.start >= 2 and span.doc[e.start - 2].lower_ == "according"), None)
    verbs = [
        t.i
        for t in span
        if t.lower_ in _SPEECH_VERBS and t.lower_ != "according" and any(a <= t.i < b for a, b in outside)
    ]
    for verb in verbs:
        beside = [
            e
            for e in named
            if e is not according
            and (0 <= verb - e.end < _SPEAKER_GAP_BEFORE or 0 < e.start - verb <= _SPEAKER_GAP_AFTER)
        ]
        if beside:
            nearest = min(beside, key=lambda e: min(abs(e.start - verb), abs(e.end - verb)))
            return nearest.text, (according or nearest).text
    return None, according.text if according else None
