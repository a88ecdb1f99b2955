"""Small closed word lists the consistency checks need: negation cues, antonym pairs, gendered pronouns, calendar
words and assistant boilerplate. Hand-written general English, not taken from any evaluation file."""

from __future__ import annotations

import re

from spacy.lang.en.stop_words import STOP_WORDS

# Words that flip a statement.
NEGATION_CUES = frozenset(
    {"not", "n't", "no", "never", "none", "nobody", "nothing", "neither", "nor", "nowhere", "without", "cannot"}
)
# Verbs that negate their complement ("failed to qualify" = "did not qualify").
NEGATING_VERBS = frozenset({"fail", "refuse", "unable"})
# "not only ... but also" and "no longer"-style phrases that do not deny the clause are handled in features.py.

# Stop words are not content: they are never "novel" and never pairs. (Negation and antonyms are read from all
# lemmas, stop words included, so "not", "more" and "before" still count there.)
STOPWORDS = frozenset(STOP_WORDS)

MONTHS = frozenset(
    {
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
    }
)
WEEKDAYS = frozenset({"monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"})

MALE = frozenset({"he", "him", "his", "himself"})
FEMALE = frozenset({"she", "her", "hers", "herself"})

_ANTONYM_PAIRS = """
increase decrease; increase reduce; increase cut; increase fall; rise fall; rise drop; rise decline; grow shrink;
grow decline; gain lose; gain loss; win lose; won lost; victory defeat; beat lose; success failure; succeed fail;
pass fail; accept reject; approve reject; approve deny; allow forbid; allow ban; allow prohibit; permit ban;
legal illegal; lawful unlawful; guilty innocent; convict acquit; arrest release; open close; opened closed;
start end; start finish; begin end; begin finish; first last; before after; early late; earlier later; old new;
older younger; oldest youngest; young old; high low; higher lower; highest lowest; large small; larger smaller;
largest smallest; big small; bigger smaller; biggest smallest; long short; longer shorter; longest shortest;
more less; more fewer; most least; many few; maximum minimum; major minor; strong weak; stronger weaker;
strongest weakest; fast slow; faster slower; fastest slowest; hot cold; warm cool; rich poor;
wealthy poor; cheap expensive; cheaper costlier; profit loss; surplus deficit; buy sell; bought sold; import export;
borrow lend; hire fire; hire dismiss; employ dismiss; employed unemployed; join leave; enter exit; arrive depart;
arrive leave; push pull; north south; east west; northern southern; eastern western;
upper lower; above below; inside outside; internal external; domestic foreign; public private;
positive negative; good bad; better worse; best worst; happy sad; love hate; agree disagree;
support oppose; friend enemy; ally enemy; peace war; safe dangerous; safe unsafe; healthy sick;
alive dead; live die; survive die; birth death; born died; male female; man woman; men women; boy girl;
husband wife; father mother; son daughter; brother sister; king queen; include exclude;
included excluded; inclusion exclusion; add remove; attach detach; confirm deny; admit deny; true false;
correct incorrect; possible impossible; likely unlikely; certain uncertain; known unknown;
visible invisible; common rare; frequent rare; always never; often rarely; everyone nobody; all none;
everything nothing; full empty; complete incomplete; finished unfinished; same different; similar different;
equal unequal; simple complex; easy difficult; easy hard; clear unclear; formal informal; official unofficial;
regular irregular; permanent temporary; natural artificial; real fake; genuine fake; original copy; inner outer;
junior senior; minority majority; victory loss; winner loser; attack defend; offense defense; offensive defensive;
win draw; raise lower; raise cut; expand contract; expand shrink; strengthen weaken; improve worsen;
improve deteriorate; upgrade downgrade; promote demote; appoint dismiss; elect defeat; resign appoint;
increase lower; ascend descend; climb fall; advance retreat; forward backward; succeed lose; pro anti;
deliberate accidental; intentional accidental; voluntary mandatory; optional mandatory; optional required;
wet dry; morning evening; sunrise sunset; summer winter; urban rural;
ancient modern; previous next; former current; former future; predecessor successor;
acquire sell; merge split; unite divide; connect disconnect; online offline; enable disable;
include omit; remember forget; credit debit; asset liability; export import;
sink float; freeze melt; hardest easiest; top bottom;
""".strip()


def _antonym_table() -> dict[str, frozenset[str]]:
    table: dict[str, set[str]] = {}
    for pair in re.split(r";\s*", _ANTONYM_PAIRS):
        words = pair.split()
        if len(words) != 2:
            continue
        left, right = words
        table.setdefault(left, set()).add(right)
        table.setdefault(right, set()).add(left)
    return {word: frozenset(opposites) for word, opposites in table.items()}


ANTONYMS = _antonym_table()

# Assistant boilerplate that states nothing about the context; such sentences are not checked as claims.
FILLER = re.compile(
    r"^(?:(?:i\s+hope\s+(?:this|that)\s+helps|let\s+me\s+know|feel\s+free|please\s+(?:let|ask|note)|"
    r"is\s+there\s+anything|if\s+you\s+(?:have|need|want)|happy\s+to\s+help|glad\s+(?:i|to)\s+(?:could\s+)?help|"
    r"thank(?:s|\s+you)|you(?:'re|\s+are)\s+welcome|sure|certainly|of\s+course|absolutely|great\s+question|"
    r"here\s+(?:is|are)\b|here's\b|below\s+(?:is|are)\b|as\s+an\s+ai\b)[^\n]{0,80}|"
    r"(?:in\s+)?(?:summary|conclusion|short|brief)[:.!]?)$",
    re.IGNORECASE,
)
# Lead-ins that attribute the claim to the context ("According to the document, ...") add nothing to check.
ATTRIBUTION = re.compile(
    r"^(?:according\s+to|based\s+on|as\s+(?:stated|mentioned|described|noted)\s+in)\s+(?:the|your|this|these)\s+"
    r"(?:provided\s+|given\s+|supplied\s+|above\s+)?(?:context|document|documents|text|passage|article|source|"
    r"sources|information|report|excerpt)s?\s*,\s*",
    re.IGNORECASE,
)
