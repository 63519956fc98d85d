"""What a sentence says happened, read as small frames the ledger can align on.

A whole-sentence embedding says two sentences are about the same things; it does not say which
value in one answers which value in the other. These frames do: who holds an office in an
organisation, what a figure is a rate of, and whether a sentence tells a change over time.
They are read from the text with patterns (no parser: the claims pipeline runs without one).

The word lists and reaches below were written on the development stories of ledger-dev (stadia-launch,
feather-duvet-lung, south-dakota-meth-campaign) and the project's own stream, and checked once on the
held-out ones (europa-water-plumes, doobie-brothers-tour) by benchmarks/ledger_eval.py.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pipeline.aliases import clean_name, same_person

# Offices in an organisation, folded to one name each. A president is a country's office as often as a
# company's: those are pipeline.aliases.roles's, with the country they belong to.
_OFFICES = {
    "chief executive officer": "chief executive",
    "chief executive": "chief executive",
    "ceo": "chief executive",
    "chairman": "chair",
    "chairwoman": "chair",
    "chair": "chair",
    "founder": "founder",
    "spokesperson": "spokesperson",
    "spokesman": "spokesperson",
    "spokeswoman": "spokesperson",
    "chief financial officer": "chief financial officer",
    "cfo": "chief financial officer",
}
_OFFICE = "|".join(sorted(map(re.escape, _OFFICES), key=len, reverse=True))
_ORG = r"[A-Z][\w&.'’-]*(?:\s[A-Z][\w&.'’-]*){0,2}"
_NAME = r"(?:(?:Dr|Mr|Mrs|Ms)\.?\s)?[A-Z][a-z]+(?:[\s-][A-Z][a-z'’]+){1,2}|[A-Z][a-z]{2,}"
# "Take-Two chief executive Karl Slatoff", "DH's CEO Michelle Hege", "chief executive Karen Whitman".
_OFFICE_BEFORE = re.compile(rf"(?:\b(?P<org>{_ORG})(?:['’]s)?\s+)?\b(?P<office>(?i:{_OFFICE}))\s+(?P<name>{_NAME})")
# "Strauss Zelnick, CEO of Take-Two", "Hege is the CEO of DH".
_OFFICE_AFTER = re.compile(
    rf"(?P<name>{_NAME}),?\s+(?:is\s+|was\s+)?(?:the\s+)?(?P<office>(?i:{_OFFICE}))\s+(?:of|at)\s+(?P<org>{_ORG})"
)
# A sentence that opens on the organisation it is about: "At DH, the Spokane firm …, chief executive …".
_OPENING_ORG = re.compile(rf"^(?:At|For|Inside)\s+(?P<org>{_ORG}),")
# Offices held in the past or in part: their holders differ by design.
_NOT_CURRENT = re.compile(r"\b(former|then|ex|previous|late|outgoing|acting|deputy|vice|interim|co)\b", re.I)
_NOT_CURRENT_REACH = 12
_NOT_ORGS = frozenset({"as", "the", "a", "an", "in", "at", "when", "while", "but", "and", "then", "its", "his", "her"})
_ORG_SUFFIXES = frozenset({"inc", "corp", "co", "ltd", "llc", "plc", "interactive", "group", "company"})

# A rate: "$9.99 a month", "$10-a-month", "per year", "monthly".
_PERIODS = {
    "day": "day",
    "daily": "day",
    "week": "week",
    "weekly": "week",
    "month": "month",
    "monthly": "month",
    "year": "year",
    "yearly": "year",
    "annual": "year",
    "annually": "year",
}
_RATE_AFTER = re.compile(
    r"^\S*?(?:[\s-]+(?:a|an|per|each)[\s-]+|/)(day|week|month|year)\b|^\S*\s+(daily|weekly|monthly|yearly|annual|annually)\b",
    re.I,
)

# Words that tell a value changed since it was first reported, rather than that a source disagrees.
_CHANGE = re.compile(
    r"\b(now|so far|to date|as of|latest|since then|up from|down from|rose|risen|rises|climbed|climbs|fell|"
    r"fallen|dropped|grew|grown|increased|decreased|jumped|surged|reached|has (?:now )?(?:been )?(?:read|seen|viewed)|"
    r"by (?:mid-?\w+|the end of \w+|monday|tuesday|wednesday|thursday|friday|saturday|sunday|late \w+|early \w+))\b",
    re.I,
)


@dataclass(frozen=True)
class Office:
    """Someone in an office of an organisation, as one sentence tells it."""

    org: str
    office: str
    person: str


def _org_key(org: str) -> str:
    words = [w for w in re.split(r"[\s.]+", clean_name(org).lower()) if w and w not in _ORG_SUFFIXES]
    return words[0] if words else ""


def offices(text: str) -> list[Office]:
    """Current offices a sentence gives people, each with the organisation it names or opens on."""
    opening = _OPENING_ORG.match(text)
    found: list[Office] = []
    for pattern in (_OFFICE_BEFORE, _OFFICE_AFTER):
        for match in pattern.finditer(text):
            # "Former Acme CEO …", "Acme's then-CEO …": the word may sit before the organisation too.
            if _NOT_CURRENT.search(text[max(match.start() - _NOT_CURRENT_REACH, 0) : match.start("office")]):
                continue
            org = match.group("org") or (opening.group("org") if opening else "")
            # A sentence's first word is capitalised whatever it is: "As CEO Jane Roe said" names no organisation.
            if not org or org.split()[0].lower() in _NOT_ORGS:
                continue
            found.append(
                Office(_org_key(org), _OFFICES[match.group("office").lower()], clean_name(match.group("name")))
            )
    return found


def office_conflict(ours: str, theirs: str) -> str | None:
    """Another person named in an office of the same organisation that the story gives someone else."""
    known = offices(theirs)
    for office in offices(ours):
        for other in known:
            if (office.org, office.office) == (other.org, other.office) and not same_person(
                office.person, other.person
            ):
                return f"{office.person} as {office.office} where the story has {other.person}"
    return None


def rate_period(text: str, number_end: int) -> str:
    """What a figure is counted per ("month" for "$9.99 a month" or "$9.99 monthly"), "" when it is no rate."""
    match = _RATE_AFTER.match(text[number_end : number_end + 30])
    return _PERIODS[(match.group(1) or match.group(2)).lower()] if match else ""


def tells_change(text: str) -> bool:
    """Whether a sentence reports a value as it stands now or as it moved, with a time or change cue."""
    return bool(_CHANGE.search(text))
