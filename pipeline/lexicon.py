"""Word lists shared by the stages: one home, so two stages never disagree on what a function word is."""

from __future__ import annotations

# Function words and the wire-service furniture of headlines ("video", "update") say nothing about the event.
_STOPWORD_TEXT = """
a about after against all also am an and any are as at be been before being but by can could did do
does down during each few for from had has have he her here hers him his how i if in into is it its
just me more most my new no nor not now of off on once only or other our out over own said says same
she should so some such than that the their them then there these they this those through to too
under until up very was we were what when where which while who whom why will with would you your vs
via amid report reports update updates video photos watch live news
"""
STOPWORDS = frozenset(_STOPWORD_TEXT.split())


def fold_plural(word: str) -> str:
    """A plain plural folded to its singular ('talks' meets 'talk'); no lemmatizer runs on this path."""
    if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word
