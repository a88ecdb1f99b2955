"""A small phrase layer for ``request_human``: the speech act "hand me over to a human", which an embedding of the
whole sentence blurs with questions *about* humans ("is a human reviewing my application?").

It recognises a request frame (talk/speak/chat to X, connect/transfer/put me through to X, get me X, I want X,
X please, a bare "agent") whose object X is a human (person, agent, representative, operator, someone, staff,
manager, customer service, ...), and it recognises turns that mention humans without asking for one: negations
("I don't need an agent"), questions about human involvement ("does a real person read this?", "am I talking to a
bot?") and other senses of the words ("representative APR", "insurance agent", "add a person to my account").
The patterns were written from the built-in examples and the development paraphrase set, never from the held-out
test set (data/request_human_test.yaml).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Who the user may ask for. Articles and qualifiers are optional ("a real person", "your staff", "human").
_QUALIFIED = (
    r"(?:(?:a|an|any|the|some|your|one of your|someone from your|somebody from your)\s+)?"
    r"(?:(?:real|actual|live|human|proper|competent)\s+)*"
)
_HUMAN_NOUN = (
    r"(?:human(?:\s+beings?)?|humans|person|people|agents?|rep(?:resentative)?s?|operators?|someone|somebody|"
    r"anyone\s+real|anybody\s+real|staff(?:\s+members?)?|members?\s+of\s+(?:staff|your\s+team)|employees?|colleagues?|"
    r"advis[oe]rs?|managers?|supervisors?|"
    r"(?:customer\s+)?(?:service|care|support)(?:\s+(?:team|staff|desk|department|rep(?:resentative)?|agent|person))?|"
    r"(?:fraud|complaints?|help)\s+(?:team|desk|department)|call\s+(?:centre|center)(?:\s+agent)?|team|"
    r"real\s+one|someone\s+real|somebody\s+real)"
)
HUMAN = rf"(?:{_QUALIFIED}{_HUMAN_NOUN})\b"

_REQUEST_FRAMES = [
    # talk / speak / chat to a human ("to you", the assistant, is not a human object)
    rf"\b(?:talk|talking|speak|speaking|chat|chatting|discuss\s+(?:this|it|that)|deal)\s+(?:to|with)\s+{HUMAN}",
    # connect / transfer / put me through / hand over / escalate to a human
    rf"\b(?:connect|transfer|put|pass|hand|forward|route|escalate|send|switch)\s+(?:me|us|this|it|my\s+(?:call|case|chat))?"
    rf"\s*(?:through|over|across|on)?\s*(?:to|with)\s+{HUMAN}",
    rf"\b(?:put|get)\s+(?:me\s+)?in\s+touch\s+with\s+{HUMAN}",
    rf"\bput\s+{HUMAN}\s+on\s+the\s+(?:line|phone|chat)",
    # get / give / find me a human
    rf"\b(?:get|give|find|bring|fetch)\s+(?:me\s+)?{HUMAN}",
    # I want / need / would like / demand a human (or to talk to one)
    rf"\b(?:want|need|like|prefer|demand|request|require)\s+(?:to\s+(?:talk|speak|chat)\s+(?:to|with)\s+)?{HUMAN}",
    # can I get / reach / contact a human; how do I get hold of one
    rf"\b(?:reach|contact|get\s+hold\s+of|get\s+through\s+to|have|get)\s+{HUMAN}",
    # is there a human I can talk to
    rf"\b(?:is|are)\s+there\s+{HUMAN}\s+(?:(?:that|who)\s+)?(?:i|we)\s+(?:can|could|may)\s+(?:talk|speak|chat)",
    # a human, please / now
    rf"{HUMAN}\s*[,!.]*\s*(?:please|pls|plz|now|asap|right\s+now)\b",
    # can someone call me back
    rf"\b(?:can|could|will|would)\s+{HUMAN}\s+(?:from\s+(?:your|the)\s+\w+\s+)?(?:call|ring|phone|contact|email)\s+me\b",
    r"\b(?:call|ring)\s+me\s+back\b",
    r"\bescalate\s+(?:this|me|it|my\s+\w+)\b",
]
# A turn that is nothing but a human noun: "agent", "Human?", "real person!!".
_BARE = re.compile(rf"^\s*{HUMAN}\s*[?!.]*\s*$")

# Mentions of humans that are not requests for one. Hard ones overrule a request frame; soft ones only matter when
# no request frame matched (they pull the embedding score down).
_HARD_NOT_REQUEST = [
    # negated: "I don't need an agent", "no need for a human"
    rf"\b(?:don'?t|do\s+not|dont|no|not|never)\s+(?:need|want|looking\s+for|require)?\s*(?:for\s+|to\s+(?:talk|speak)\s+(?:to|with)\s+)?{HUMAN}",
    # asking whether a human is involved / what the assistant is
    r"\b(?:am\s+i|are\s+we)\s+(?:talking|speaking|chatting)\s+(?:to|with)\b",
    r"\bare\s+you\s+(?:a\s+|an\s+)?(?:real|human|bot|robot|person|machine|ai|computer)\b",
    rf"^\s*(?:is|are|does|do|did|will|would|has|have|can)\s+(?:{HUMAN}|(?:a|any)\s+(?:real\s+)?(?:human|person|people))"
    r"\s+(?:ever\s+)?(?:review|read|see|check|monitor|record|look|listen|going\s+to\s+review|reviewing|reading|"
    r"seeing|checking|monitoring|recording|looking|listening|have\s+access)",
    r"\b(?:monitored|recorded|reviewed|read)\s+by\s+(?:a\s+|your\s+)?(?:human|person|people|staff|someone)",
]
_SOFT_NOT_REQUEST = [
    r"\brepresentative\s+(?:apr|example|rate|interest)",
    r"\b(?:insurance|mortgage|estate|travel|letting|booking|sales|secret)\s+agent",
    r"\bbecome\s+(?:a|an)\b",
    r"\b(?:add|adding|remove|removing)\s+(?:a|another|my|the|one)?\s*(?:person|someone|somebody|user|cardholder)",
    r"\b(?:another|other)\s+person\b",
    r"\bperson\s+to\s+person\b",
    r"\b(?:talk|speak)\s+(?:to|with)\s+you\b",
    r"\btalk\s+(?:me|you|us)\s+through\b",
    r"\b(?:talk|speak|chat)\s+about\b",
    r"\b(?:someone|somebody)\s+(?:else|used|stole|took|is|has|hacked)\b",
    r"\b(?:spoke|talked|chatted)\s+(?:to|with)\b",  # past contact, not a request
    r"\bhuman\s+resources\b",
]

_REQUEST = [re.compile(p) for p in _REQUEST_FRAMES]
_HARD = [re.compile(p) for p in _HARD_NOT_REQUEST]
_SOFT = [re.compile(p) for p in _SOFT_NOT_REQUEST]


def normalise(text: str) -> str:
    """Lower case, text-speak "2"/"u" spelled out, quotes straightened, whitespace collapsed."""
    lowered = text.lower().replace("\u2019", "'")
    lowered = re.sub(r"\b2\b", "to", lowered)
    lowered = re.sub(r"\bu\b", "you", lowered)
    return re.sub(r"\s+", " ", lowered).strip()


@dataclass(frozen=True, slots=True)
class PhraseVerdict:
    """What the phrase layer saw: a request frame, a reason it is not a request, or neither."""

    request: str | None = None  # the matched request phrase
    not_request: str | None = None  # the matched phrase that says "not a request"
    hard: bool = False  # whether ``not_request`` overrules a request frame


def read_request_human(text: str) -> PhraseVerdict:
    normal = normalise(text)
    sentences = [s for s in re.split(r"[.!?]+\s*", normal) if s]
    for pattern in _HARD:
        if match := pattern.search(normal):
            return PhraseVerdict(not_request=match.group(0), hard=True)
    for sentence in sentences:
        if _BARE.match(sentence):
            return PhraseVerdict(request=sentence)
    for pattern in _REQUEST:
        if match := pattern.search(normal):
            return PhraseVerdict(request=match.group(0).strip())
    for pattern in _SOFT:
        if match := pattern.search(normal):
            return PhraseVerdict(not_request=match.group(0))
    return PhraseVerdict()
