"""Names that differ on the page but mean the same thing within a story: people, places, roles.

Sources misspell names ("Hagseth"), shorten them ("Mr. Dong"), write countries several ways
("U.S.", "the United States") and give one office several titles ("Secretary of War",
"Defense Secretary", "the Pentagon chief"). The ledger compares values only after this.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from difflib import SequenceMatcher
from functools import cache, lru_cache

_HONORIFICS = frozenset(
    [
        "mr",
        "mrs",
        "ms",
        "miss",
        "dr",
        "prof",
        "sir",
        "dame",
        "admiral",
        "adm",
        "general",
        "gen",
        "president",
        "vice",
        "prime",
        "minister",
        "secretary",
        "senator",
        "sen",
        "rep",
        "representative",
        "governor",
        "gov",
        "mayor",
        "judge",
        "justice",
        "chancellor",
        "king",
        "queen",
        "prince",
        "princess",
        "pope",
        "sheikh",
        "lt",
        "col",
        "colonel",
        "captain",
        "capt",
        "chief",
        "speaker",
        "ambassador",
    ]
)
# Below this length a one-letter slip is a different name ("Xi"/"Xu"), above it a typo ("Hagseth").
_FUZZY_MIN_LENGTH = 5
_FUZZY_RATIO = 0.8

_PLACE_ALIASES = {
    "us": "United States",
    "u.s.": "United States",
    "u.s": "United States",
    "usa": "United States",
    "u.s.a.": "United States",
    "america": "United States",
    "united states of america": "United States",
    "uk": "United Kingdom",
    "u.k.": "United Kingdom",
    "britain": "United Kingdom",
    "great britain": "United Kingdom",
    "prc": "China",
    "mainland china": "China",
    "people's republic of china": "China",
    "republic of korea": "South Korea",
    "rok": "South Korea",
    "dprk": "North Korea",
    "turkey": "Türkiye",
    "russian federation": "Russia",
    "uae": "United Arab Emirates",
    "burma": "Myanmar (Burma)",
    "myanmar": "Myanmar (Burma)",
    "czech republic": "Czechia",
    "viet nam": "Vietnam",
    "holland": "Netherlands",
}

# Nationality words that name the country an office belongs to ("Chinese Defense Minister").
_DEMONYMS = {
    "american": "United States",
    "us": "United States",
    "u.s.": "United States",
    "chinese": "China",
    "british": "United Kingdom",
    "russian": "Russia",
    "japanese": "Japan",
    "korean": "South Korea",
    "south korean": "South Korea",
    "north korean": "North Korea",
    "indian": "India",
    "french": "France",
    "german": "Germany",
    "italian": "Italy",
    "spanish": "Spain",
    "canadian": "Canada",
    "australian": "Australia",
    "malaysian": "Malaysia",
    "vietnamese": "Vietnam",
    "philippine": "Philippines",
    "filipino": "Philippines",
    "indonesian": "Indonesia",
    "thai": "Thailand",
    "singaporean": "Singapore",
    "taiwanese": "Taiwan",
    "ukrainian": "Ukraine",
    "israeli": "Israel",
    "iranian": "Iran",
    "turkish": "Türkiye",
    "pakistani": "Pakistan",
    "mexican": "Mexico",
    "brazilian": "Brazil",
    "saudi": "Saudi Arabia",
    "egyptian": "Egypt",
}

# One office, many titles. Titles used only by one government also say which country it is.
_ROLE_TITLES: dict[str, tuple[str, str | None]] = {
    "secretary of war": ("defense chief", "United States"),
    "war secretary": ("defense chief", "United States"),
    "pentagon chief": ("defense chief", "United States"),
    "secretary of defense": ("defense chief", "United States"),
    "defense secretary": ("defense chief", "United States"),
    "defence secretary": ("defense chief", "United Kingdom"),
    "defense chief": ("defense chief", None),
    "defence chief": ("defense chief", None),
    "defense minister": ("defense chief", None),
    "defence minister": ("defense chief", None),
    "minister of defense": ("defense chief", None),
    "minister of defence": ("defense chief", None),
    "minister of national defense": ("defense chief", None),
    "minister of national defence": ("defense chief", None),
    "secretary of state": ("foreign minister", "United States"),
    "foreign minister": ("foreign minister", None),
    "foreign secretary": ("foreign minister", "United Kingdom"),
    "minister of foreign affairs": ("foreign minister", None),
    "prime minister": ("head of government", None),
    "premier": ("head of government", None),
    "president": ("head of state", None),
    "chief executive officer": ("chief executive", None),
    "chief executive": ("chief executive", None),
    "ceo": ("chief executive", None),
    "chief financial officer": ("chief financial officer", None),
    "cfo": ("chief financial officer", None),
    "spokesperson": ("spokesperson", None),
    "spokesman": ("spokesperson", None),
    "spokeswoman": ("spokesperson", None),
}
_TITLE_PATTERN = "|".join(sorted((re.escape(t) for t in _ROLE_TITLES), key=len, reverse=True))
_COUNTRY_WORD = r"(?:(?P<country>[A-Z][\w.]*(?:\s[A-Z][\w.]*)?)(?:['’]s)?\s+)?"
# An appositive office ends its phrase: "Dong Jun, China's defense minister, said", not "…, the defense
# secretary said" where the office is the subject of the next clause.
_APPOSITIVE_END = r"(?=\s*(?:[,;)]|\.?$))"
_PAST_HOLDER = re.compile(
    r"\b(former|then|ex|previous|late|outgoing|acting|deputy|vice)\b[-\s]*(?:[\w.]+(?:['’]s)?\s+)?$", re.I
)


def clean_name(name: str) -> str:
    """An entity as printed minus possessives, articles and stray punctuation."""
    name = re.sub(r"['’]s?$", "", name.strip().strip('.,;:“”"()'))
    return re.sub(r"^(the|The)\s+", "", name).strip()


def person_tokens(name: str) -> list[str]:
    words = [w.strip(".").lower() for w in re.split(r"[\s-]+", clean_name(name)) if w.strip(".")]
    stripped = [w for w in words if w not in _HONORIFICS]
    return stripped or words


def _similar_word(a: str, b: str) -> bool:
    if a == b:
        return True
    if min(len(a), len(b)) < _FUZZY_MIN_LENGTH or a[0] != b[0]:
        return False
    return SequenceMatcher(None, a, b).ratio() >= _FUZZY_RATIO


@cache
def same_person(a: str, b: str) -> bool:
    """Whether two mentions can name one person: "Hagseth" and "Pete Hegseth", "Mr. Xi" and "Xi Jinping"."""
    ta, tb = person_tokens(a), person_tokens(b)
    if not ta or not tb:
        return False
    if len(ta) == 1 or len(tb) == 1:
        short, long = (ta, tb) if len(ta) <= len(tb) else (tb, ta)
        # Family names come first in Chinese usage ("Xi Jinping"), last in English ("Pete Hegseth").
        return _similar_word(short[0], long[-1]) or _similar_word(short[0], long[0])
    return _similar_word(ta[-1], tb[-1]) and _similar_word(ta[0], tb[0])


def person_overlap(a: list[str], b: list[str]) -> list[str]:
    """The people of ``a`` who are also somewhere in ``b``."""
    return [p for p in a if any(same_person(p, q) for q in b)]


@cache
def _countries() -> dict[str, str]:
    from babel import Locale

    names = {name.lower(): name for code, name in Locale("en").territories.items() if code.isalpha()}
    names.update({alias: canonical for alias, canonical in _PLACE_ALIASES.items()})
    return names


def normalise_place(name: str) -> str:
    """The canonical spelling of a place: "the U.S." -> "United States"; unknown places keep theirs."""
    cleaned = clean_name(name)
    return _countries().get(cleaned.lower(), cleaned)


def country_of(name: str) -> str | None:
    """The country a place name stands for, when it names a country (not a city or a region)."""
    return _countries().get(clean_name(name).lower())


def places_conflict(a: str, b: str) -> bool:
    """Two places that cannot both be right: distinct countries. A city and a country, two cities,
    or a capital used for its government ("Beijing") may be one place at two scales, so they never conflict."""
    ca, cb = country_of(a), country_of(b)
    return ca is not None and cb is not None and ca != cb


def _country_from_words(words: str | None) -> str | None:
    if not words:
        return None
    lowered = words.lower().strip()
    return _DEMONYMS.get(lowered) or country_of(lowered) or _DEMONYMS.get(lowered.split()[-1])


# An office written right before a name ("Chinese Defense Minister Dong Jun"), matched against the
# text up to the name, and one in apposition right after it ("Dong Jun, China's defense minister,").
# Names are found with str.find: a pattern per name would cost milliseconds to compile for each new one.
_ROLE_BEFORE_NAME = re.compile(rf"{_COUNTRY_WORD}(?P<title>(?i:{_TITLE_PATTERN}))\s+(?:[A-Z]\w*\.?\s+)?\Z")
_ROLE_AFTER_NAME = re.compile(rf",\s+(?:the\s+)?{_COUNTRY_WORD}(?P<title>(?i:{_TITLE_PATTERN})){_APPOSITIVE_END}")


def _occurrences(text: str, name: str) -> Iterator[int]:
    at = text.find(name)
    while at >= 0 and name:
        yield at
        at = text.find(name, at + len(name))


@lru_cache(maxsize=16384)
def roles(text: str, people: tuple[str, ...]) -> dict[tuple[str, str], str]:
    """Offices held by the people a sentence names: {(role, country): person}, country "" when the
    sentence does not say whose office it is.

    Reads "Chinese Defense Minister Dong Jun" and "Dong Jun, China's minister of national defense";
    offices held in the past ("former", "then-") are left out: their holders differ by design.
    """
    found: dict[tuple[str, str], str] = {}
    for person in people:
        name = clean_name(person)
        for at in _occurrences(text, name):
            for match in (_ROLE_BEFORE_NAME.search(text, 0, at), _ROLE_AFTER_NAME.match(text, at + len(name))):
                if match is None or _PAST_HOLDER.search(text[: match.start("title")]):
                    continue
                role, implied = _ROLE_TITLES[match.group("title").lower()]
                country = _country_from_words(match.group("country")) or implied or ""
                found.setdefault((role, country), person)
    return found
