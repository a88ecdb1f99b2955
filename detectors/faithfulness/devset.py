"""Development data for the offline checker: claims we derive from factual passages, faithful or perturbed.

No human-labelled faithfulness data is used to design or fit the checker (the SummaC files are test sets). Instead,
from each passage (the "context") we derive

* supported claims — a sentence copied, compressed (parentheticals and trailing clauses dropped), fused with the
  next sentence, rewritten with synonyms or with numbers and dates in another format ("$5.3 million" →
  "5.3 million dollars", "12%" → "12 percent", "two" → "2"), and
* unsupported claims — the same constructions with one error put in: a number or date changed, a name swapped for
  another of the same type (from the passage, or from elsewhere), a negation added or removed, a word replaced by
  its opposite, a pronoun's gender flipped, two names exchanged, the subject of one sentence joined to the
  predicate of another, an invented detail appended, or a sentence from a different passage.

About a third of all claims (both labels) are lower-cased and tokenised the way summarisation datasets store them,
so that no feature can key on the formatting. Answers of 2 to 4 claims (all supported, or one perturbed) exercise the
answer-level aggregation. Everything is seeded; the same corpus gives the same data.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from detectors.faithfulness.analysis import pipeline
from detectors.faithfulness.lexicon import ANTONYMS, MONTHS, WEEKDAYS
from detectors.faithfulness.numbers import extract_quantities
from detectors.faithfulness.segment import split_sentences

_NAME_LABELS = ("PERSON", "ORG", "GPE", "NORP", "LOC", "FAC", "EVENT", "WORK_OF_ART", "PRODUCT")
_AUXILIARIES = ("was", "were", "is", "are", "has", "had", "have", "will", "would", "can", "could", "did", "does")
_SYNONYM_PAIRS = """
said stated; says states; say state; began started; begin start; begins starts; started began; bought purchased;
buy purchase; purchased bought; about around; approximately about; large big; big large; small little; received got;
receive get; because since; however but; also additionally; later subsequently; died passed away; built constructed;
constructed built; called named; named called; several a number of; many numerous; people individuals;
important significant; significant major; finished completed; completed finished; helped assisted; help assist;
showed demonstrated; shows demonstrates; wanted sought; tried attempted; try attempt; often frequently;
quickly rapidly; near close to; film movie; movie film; ship vessel; ships vessels; game title; car vehicle;
cars vehicles; house home; houses homes; city town; job position; jobs positions; work job; company firm;
companies firms; firm company; children kids; child kid; man person; woman person; men people; women people;
doctor physician; doctors physicians; police officers; killed slain; injured hurt; injuries wounds; hospital clinic;
attacked assaulted; arrested detained; charged accused; asked requested; told informed; announced revealed;
revealed disclosed; reported stated; claimed alleged; believed thought; thought believed; decided chose;
chose selected; selected picked; picked chose; allowed permitted; prevented stopped; stopped halted;
ended concluded; continued carried on; increased grew; increase growth; decreased declined; reduced cut;
returned came back; left departed; arrived reached; moved relocated; lived resided; worked served;
served worked; joined entered; created made; made produced; produced created; developed designed;
designed developed; used employed; uses employs; needed required; needs requires; required needed;
caused led to; causes leads to; famous well-known; popular well-liked; difficult hard; hard difficult;
easy simple; simple easy; fast quick; quick fast; huge enormous; enormous huge; total overall; entire whole;
whole entire; main primary; primary main; major key; key major; initial first; final last; previous prior;
prior previous; current present; recent latest; former ex; area region; region area; country nation;
nation country; world globe; government administration; officials authorities; authorities officials;
leader head; president leader; members participants; team squad; squad team; match game; won secured;
scored netted; season campaign; career professional life; role part; part role; event occasion; meeting gathering;
study research; research study; data information; information details; results findings; method approach;
approach method; problem issue; issue problem; question query; answer reply; reply answer; plan scheme;
scheme plan; idea concept; rules regulations; law legislation; money funds; funds money; cost price; price cost;
paid spent; spend pay; sold traded; trip journey; journey trip; road street; street road; building structure;
structure building; river stream; mountain peak; island isle; forest woods; storm tempest; fire blaze; blaze fire;
destroyed wrecked; damaged harmed; repaired fixed; fixed repaired; large-scale extensive; extensive large-scale;
commonly widely; widely commonly; mostly largely; largely mostly; nearly almost; almost nearly; roughly about;
especially particularly; particularly especially; eventually finally; finally eventually; instead rather;
together jointly; soon shortly; shortly soon; recently lately
""".strip()
_SYNONYMS: dict[str, str] = dict(
    pair.strip().split(" ", 1) for pair in re.split(r";\s*", _SYNONYM_PAIRS) if " " in pair.strip()
)
_MONTH_NAMES = [m.capitalize() for m in sorted(MONTHS)]
_WEEKDAY_NAMES = [d.capitalize() for d in sorted(WEEKDAYS)]


@dataclass(frozen=True, slots=True)
class Passage:
    source: str  # e.g. "wiki:Robert Boulter"
    text: str


@dataclass(frozen=True, slots=True)
class ClaimExample:
    context: str
    claim: str
    label: int  # 1 = supported by the context, 0 = not
    kind: str  # which construction or perturbation produced it
    source: str


@dataclass(frozen=True, slots=True)
class AnswerExample:
    context: str
    claims: tuple[str, ...]
    label: int
    kinds: tuple[str, ...]
    source: str

    @property
    def answer(self) -> str:
        return " ".join(self.claims)


# ---------------------------------------------------------------------------------------------------- corpora


def detokenize_wikitext(text: str) -> str:
    text = text.replace(" @-@ ", "-").replace(" @,@ ", ",").replace(" @.@ ", ".")
    text = re.sub(r'" ([^"]*?) "', r'"\1"', text)
    text = re.sub(r" ([.,;:!?)\]])", r"\1", text)
    text = re.sub(r"([(\[$]) ", r"\1", text)
    text = re.sub(r" (['\u2019](?:s|re|ve|ll|d|m|t)\b)", r"\1", text)
    text = re.sub(r"(\d) %", r"\1%", text)
    return re.sub(r"[ \t]+", " ", text).strip()


def wikitext_passages(directory: Path, min_words: int = 120, max_words: int = 380, seed: int = 0) -> list[Passage]:
    """Passages of WikiText-style files (``= Title =`` headings, one paragraph per line)."""
    rng = random.Random(seed)
    passages: list[Passage] = []
    for path in sorted(directory.glob("*.txt")):
        title = path.stem
        paragraphs: list[str] = []
        for raw in path.read_text(encoding="utf-8").splitlines():
            line = raw.strip()
            heading = re.fullmatch(r"=\s+([^=].*?)\s+=", line)
            if heading:
                passages += _pack(f"wiki:{title}", paragraphs, min_words, max_words, rng)
                title, paragraphs = heading.group(1), []
                continue
            if line.startswith("="):
                continue
            text = detokenize_wikitext(line)
            if len(text.split()) >= 25:
                paragraphs.append(text)
        passages += _pack(f"wiki:{title}", paragraphs, min_words, max_words, rng)
    return passages


def local_passages(min_words: int = 120, max_words: int = 380, seed: int = 0) -> list[Passage]:
    """Passages from documentation installed with our dependencies (scikit-learn's dataset descriptions, BSD):
    a second, technical domain with many numbers, available on every machine that has the venv."""
    import sklearn.datasets

    rng = random.Random(seed)
    passages: list[Passage] = []
    root = Path(sklearn.datasets.__file__).parent / "descr"
    for path in sorted(root.glob("*.rst")):
        paragraphs = []
        for block in re.split(r"\n\s*\n", path.read_text(encoding="utf-8")):
            lines = [ln.strip() for ln in block.splitlines()]
            if any(ln.startswith(("..", ":", "=", "-", "*", "|", ">>>")) for ln in lines) or not lines:
                continue
            text = " ".join(lines)
            text = re.sub(r"`+([^`<]*?)(?:\s*<[^>]*>)?`+_*", r"\1", text)
            if len(text.split()) >= 25 and text[-1:] in ".)":
                paragraphs.append(text)
        passages += _pack(f"sklearn:{path.stem}", paragraphs, min_words, max_words, rng)
    return passages


def _pack(source: str, paragraphs: Sequence[str], min_words: int, max_words: int, rng: random.Random) -> list[Passage]:
    passages = []
    current: list[str] = []
    target = rng.randint(min_words, max_words)
    for paragraph in paragraphs:
        current.append(paragraph)
        if sum(len(p.split()) for p in current) >= target:
            passages.append(Passage(source, "\n".join(current)))
            current, target = [], rng.randint(min_words, max_words)
    if current and sum(len(p.split()) for p in current) >= min_words // 2:
        passages.append(Passage(source, "\n".join(current)))
    return passages


def split_by_source(
    passages: Sequence[Passage], validation_share: float, seed: int
) -> tuple[list[Passage], list[Passage]]:
    """Train/validation split by article, so no article contributes to both."""
    sources = sorted({p.source for p in passages})
    random.Random(seed).shuffle(sources)
    validation = set(sources[: max(1, round(len(sources) * validation_share))])
    return [p for p in passages if p.source not in validation], [p for p in passages if p.source in validation]


# ---------------------------------------------------------------------------------------------------- generation


class Generator:
    def __init__(self, passages: Sequence[Passage], seed: int = 0) -> None:
        self.rng = random.Random(seed)
        self.passages = list(passages)
        self.nlp = pipeline()
        self._docs: dict[str, list[Any]] = {}
        self._entities: dict[str, dict[str, list[str]]] = {}
        for passage in self.passages:
            sentences = [s.text for s in split_sentences(passage.text)]
            docs = list(self.nlp.pipe(sentences))
            self._docs[passage.text] = docs
            table: dict[str, list[str]] = {}
            for doc in docs:
                for ent in doc.ents:
                    if ent.label_ in _NAME_LABELS and ent.text not in table.get(ent.label_, []):
                        table.setdefault(ent.label_, []).append(ent.text)
            self._entities[passage.text] = table

    # ---- supported constructions

    def _compress(self, sentence: str) -> str:
        text = re.sub(r"\s*\([^()]*\)", "", sentence)
        text = re.sub(r",\s*(?:which|who|whose|where)\b[^,;]*(?=[,;.])", "", text)
        parts = re.split(r"(?<=[^\d]),\s+|;\s+", text)
        if len(parts) > 1 and len(parts[0].split()) >= 7 and self.rng.random() < 0.5:
            head = parts[0].rstrip(".")
            if any(t.pos_ in ("VERB", "AUX") for t in self.nlp(head)):  # a clause, not a fragment
                text = head + "."
        return text

    def _fuse(self, first: str, second: str) -> str | None:
        head = re.split(r"(?<!\d),\s+|;\s+", first.rstrip("."))[0]
        tail = second.rstrip(".")
        if len(head.split()) < 5 or len(tail.split()) < 5:
            return None
        if self.nlp(tail)[0].pos_ in ("DET", "PRON", "ADP", "ADV", "SCONJ", "CCONJ", "AUX"):
            tail = tail[0].lower() + tail[1:]
        return f"{head}, and {tail}."

    def _reformat_numbers(self, sentence: str) -> str | None:
        quantities = extract_quantities(sentence)
        if not quantities:
            return None
        q = self.rng.choice(quantities)
        text = q.text
        replacement = None
        if q.kind == "money" and text.startswith("$"):
            replacement = text[1:].strip() + " dollars"
        elif q.kind == "percent":
            replacement = re.sub(r"\s?%|\s?per\s?cent", " percent", text)
        elif re.fullmatch(r"\d{1,3}(,\d{3})+", text):
            replacement = text.replace(",", "")
        elif q.kind == "number" and text.isalpha() and q.value < 20:
            replacement = str(int(q.value))
        elif q.kind == "number" and text.isdigit() and 2 <= q.value <= 12:
            words = ["", "", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve"]
            replacement = words[int(q.value)]
        if not replacement:
            return None
        return sentence[: q.start] + replacement + sentence[q.end :]

    def _synonyms(self, sentence: str) -> str | None:
        words = list(dict.fromkeys(w for w in re.findall(r"\b[a-z][a-z-]*\b", sentence) if w in _SYNONYMS))
        if not words:
            return None
        for word in self.rng.sample(words, min(self.rng.randint(1, 3), len(words))):
            sentence = re.sub(rf"\b{word}\b", _SYNONYMS[word], sentence, count=1)
        return sentence

    def _clause(self, doc: Any) -> str | None:
        """One clause of a compound sentence, as a short claim of its own ("It is 330 metres tall.")."""
        parts = re.split(
            r";\s+|,\s+(?:and|but|while)\s+|\s+and\s+(?=(?:was|were|is|are|has|had|he|she|it|they)\b)", doc.text
        )
        candidates = [p.strip(" .") for p in parts if 4 <= len(p.split()) <= 16] if len(parts) > 1 else []
        if not candidates:
            return None
        clause = self.rng.choice(candidates)
        head = self.nlp(clause)
        if not any(t.pos_ in ("VERB", "AUX") for t in head):
            return None
        if head[0].pos_ in ("VERB", "AUX"):  # no subject of its own: borrow the sentence's, or "It"
            verb = next((t.i for t in doc if t.pos_ in ("VERB", "AUX") and t.i > 0), None)
            subject = doc[:verb].text if verb is not None and verb <= 5 else "It"
            clause = f"{subject} {clause}"
        elif head[0].lower_ in ("he", "she", "it", "they"):
            pass
        return clause[0].upper() + clause[1:] + "."

    def _pronominalise(self, claim: str, passage: Passage) -> str | None:
        """The claim's leading person name replaced by the pronoun the passage uses for people ("He won ...")."""
        doc = self.nlp(claim)
        if not doc.ents or doc.ents[0].start != 0 or doc.ents[0].label_ != "PERSON":
            return None
        he = len(re.findall(r"\b(?:he|his|him)\b", passage.text, re.IGNORECASE))
        she = len(re.findall(r"\b(?:she|her|hers)\b", passage.text, re.IGNORECASE))
        if he == she:
            return None
        end = doc.ents[0].end_char
        if claim[end : end + 2] == "'s":
            return ("His" if he > she else "Her") + claim[end + 2 :]
        return ("He" if he > she else "She") + claim[end:]

    def supported(self, passage: Passage, index: int) -> tuple[str, str] | None:
        made = self._supported(passage, index)
        if made and self.rng.random() < 0.25:
            pronoun = self._pronominalise(made[0], passage)
            if pronoun:
                return pronoun, made[1] + "+pronoun"
        return made

    def _supported(self, passage: Passage, index: int) -> tuple[str, str] | None:
        docs = self._docs[passage.text]
        sentence = docs[index].text
        if len(sentence.split()) < 8:
            return None
        roll = self.rng.random()
        if roll < 0.12:
            return sentence, "copy"
        if roll < 0.30:
            clause = self._clause(docs[index])
            if clause:
                return clause, "clause"
        if roll < 0.40 and index + 1 < len(docs):
            fused = self._fuse(sentence, docs[index + 1].text)
            if fused:
                return fused, "fuse"
        if roll < 0.50:
            reformatted = self._reformat_numbers(sentence)
            if reformatted:
                return self._compress(reformatted), "number-format"
        if roll < 0.70:
            rewritten = self._synonyms(sentence)
            if rewritten:
                return self._compress(rewritten), "synonyms"
        compressed = self._compress(sentence)
        if self.rng.random() < 0.3:  # a light paraphrase on top, as summarisers and assistants do
            compressed = self._synonyms(compressed) or compressed
        return (compressed, "compress") if len(compressed.split()) >= 6 else (sentence, "copy")

    # ---- perturbations: each returns the changed claim, or None when it does not apply

    def _swap_number(self, claim: str, passage: Passage) -> str | None:
        quantities = [q for q in extract_quantities(claim) if q.kind != "decade"]
        if not quantities:
            return None
        q = self.rng.choice(quantities)
        others = [o for o in extract_quantities(passage.text) if o.value != q.value and o.kind == q.kind]
        if others and self.rng.random() < 0.5:
            other = self.rng.choice(others)
            if other.text.lower() not in claim.lower():
                return claim[: q.start] + other.text + claim[q.end :]
        digits = re.search(r"\d[\d,]*(?:\.\d+)?", q.text)
        if digits:
            value = float(digits.group(0).replace(",", ""))
            if 1800 <= value <= 2100 and "." not in digits.group(0):
                new = str(int(value) + self.rng.choice([-5, -3, -2, -1, 1, 2, 3, 4]))
            else:
                factor = self.rng.choice([0.5, 0.75, 1.5, 2, 3, 10])
                new_value = value * factor if value else self.rng.randint(1, 9)
                new = f"{new_value:,.{len(digits.group(0).split('.')[1]) if '.' in digits.group(0) else 0}f}"
                if new == digits.group(0):
                    new = str(int(value) + 1)
                if "," not in digits.group(0):
                    new = new.replace(",", "")
            new_text = q.text[: digits.start()] + new + q.text[digits.end() :]
        else:
            words = [
                "two",
                "three",
                "four",
                "five",
                "six",
                "seven",
                "eight",
                "nine",
                "ten",
                "twelve",
                "fifteen",
                "twenty",
            ]
            candidates = [w for w in words if w != q.text.lower()]
            if q.kind == "ordinal":
                candidates = ["second", "third", "fourth", "fifth", "sixth", "seventh"]
                candidates = [w for w in candidates if w != q.text.lower()]
            new_text = self.rng.choice(candidates)
        return claim[: q.start] + new_text + claim[q.end :]

    def _swap_calendar(self, claim: str) -> str | None:
        for names in (_MONTH_NAMES, _WEEKDAY_NAMES):
            present = [n for n in names if re.search(rf"\b{n}\b", claim)]
            if present:
                old = self.rng.choice(present)
                new = self.rng.choice([n for n in names if n != old])
                return re.sub(rf"\b{old}\b", new, claim, count=1)
        return None

    def _entities_in(self, claim: str) -> list[tuple[str, str]]:
        doc = self.nlp(claim)
        return [(ent.text, ent.label_) for ent in doc.ents if ent.label_ in _NAME_LABELS]

    def _swap_entity(self, claim: str, passage: Passage, extrinsic: bool) -> str | None:
        entities = self._entities_in(claim)
        if not entities:
            return None
        text, label = self.rng.choice(entities)
        if extrinsic:
            other = self.rng.choice(self.passages)
            pool = self._entities[other.text].get(label, [])
            pool = [e for e in pool if e not in passage.text]
        else:
            pool = [e for e in self._entities[passage.text].get(label, []) if e not in text and text not in e]
        pool = [e for e in pool if e.lower() not in claim.lower()]
        if not pool:
            return None
        return claim.replace(text, self.rng.choice(pool), 1)

    def _exchange_entities(self, claim: str) -> str | None:
        entities = self._entities_in(claim)
        by_label: dict[str, list[str]] = {}
        for text, label in entities:
            if text not in by_label.get(label, []):
                by_label.setdefault(label, []).append(text)
        pairs = [names for names in by_label.values() if len(names) >= 2]
        if not pairs:
            return None
        a, b = self.rng.sample(self.rng.choice(pairs), 2)
        if a in b or b in a:
            return None
        return claim.replace(a, "\x00").replace(b, a).replace("\x00", b)

    def _negate(self, claim: str) -> str | None:
        if re.search(r"\b(not|never)\b|n't", claim):
            return re.sub(r"\s+(not|never)\b|n't", "", claim, count=1)
        doc = self.nlp(claim)
        for token in doc:
            if token.lower_ in _AUXILIARIES and token.i + 1 < len(doc):
                return claim[: token.idx + len(token.text)] + " not" + claim[token.idx + len(token.text) :]
        for token in doc:
            if token.tag_ == "VBD" and token.lemma_:
                return claim[: token.idx] + "did not " + str(token.lemma_) + claim[token.idx + len(token.text) :]
        return None

    def _antonym(self, claim: str) -> str | None:
        doc = self.nlp(claim)
        candidates = [t for t in doc if t.lower_ in ANTONYMS and t.lower_ == t.lemma_.lower()]
        if not candidates:
            return None
        token = self.rng.choice(candidates)
        opposite = self.rng.choice(sorted(ANTONYMS[token.lower_]))
        if token.text[0].isupper():
            opposite = opposite.capitalize()
        return claim[: token.idx] + opposite + claim[token.idx + len(token.text) :]

    def _flip_pronoun(self, claim: str) -> str | None:
        swaps = {"he": "she", "she": "he", "his": "her", "him": "her", "her": "his"}
        match = re.search(r"\b(he|she|his|him|her)\b", claim, re.IGNORECASE)
        if not match:
            return None
        word = match.group(1)
        new = swaps[word.lower()]
        if word[0].isupper():
            new = new.capitalize()
        return claim[: match.start()] + new + claim[match.end() :]

    def _splice(self, passage: Passage, index: int) -> str | None:
        docs = self._docs[passage.text]
        others = [j for j in range(len(docs)) if abs(j - index) > 1 and len(docs[j]) > 8]
        if not others:
            return None
        first, second = docs[index], docs[self.rng.choice(others)]
        verb_a = next((t.i for t in first if t.pos_ in ("VERB", "AUX") and t.i > 0), None)
        verb_b = next((t.i for t in second if t.pos_ in ("VERB", "AUX") and t.i > 0), None)
        if verb_a is None or verb_b is None:
            return None
        subject = first[:verb_a].text
        predicate = second[verb_b:].text
        if len(subject.split()) < 2 or len(predicate.split()) < 4 or subject.lower() in second.text.lower():
            return None
        return f"{subject} {predicate}"

    def _append_detail(self, claim: str, passage: Passage) -> str | None:
        other = self.rng.choice([p for p in self.passages if p is not passage])
        entities = self._entities[other.text]
        places = [e for e in entities.get("GPE", []) + entities.get("LOC", []) if e not in passage.text]
        people = [e for e in entities.get("PERSON", []) if e not in passage.text]
        body = claim.rstrip(".")
        options = []
        if places:
            options.append(f"{body} in {self.rng.choice(places)}.")
        if people:
            options.append(f"{body}, according to {self.rng.choice(people)}.")
        options.append(f"{body} in {self.rng.choice(_MONTH_NAMES)} {self.rng.randint(1950, 2022)}.")
        options.append(f"{body}, at a cost of ${self.rng.choice([2, 3, 5, 12, 40])} million.")
        return self.rng.choice(options)

    def _substitute_word(self, claim: str, passage: Passage) -> str | None:
        """A noun, verb or adjective replaced by one of the same tag from another passage: a changed predicate or
        attribute with no name or number involved ("was arrested" -> "was hospitalised")."""
        doc = self.nlp(claim)
        # Nouns and adjectives twice as often as verbs: an invented detail is more often a thing than an action.
        wanted = ("NOUN", "ADJ") if self.rng.random() < 0.67 else ("VERB",)
        candidates = [t for t in doc if t.pos_ in wanted and not t.is_stop and len(t.text) > 3 and not t.ent_type_]
        if not candidates:
            return None
        token = self.rng.choice(candidates)
        other = self.rng.choice([p for p in self.passages if p.source != passage.source])
        lowered = passage.text.lower()
        pool = [
            t.text
            for d in self._docs[other.text]
            for t in d
            if t.tag_ == token.tag_
            and not t.is_stop
            and not t.ent_type_
            and len(t.text) > 3
            and t.lower_ not in lowered
        ]
        if not pool:
            return None
        word = str(self.rng.choice(pool))
        word = word.capitalize() if token.text[0].isupper() else word.lower()
        return claim[: token.idx] + word + claim[token.idx + len(token.text) :]

    def _append_clause(self, claim: str, passage: Passage) -> str | None:
        """The claim plus a predicate taken from a sentence of another passage ("..., and was later abandoned")."""
        other = self.rng.choice([p for p in self.passages if p.source != passage.source])
        doc = self.rng.choice(self._docs[other.text])
        verb = next((t.i for t in doc if t.pos_ in ("VERB", "AUX") and t.i > 0), None)
        if verb is None:
            return None
        predicate = doc[verb:].text.rstrip(" .")
        if not 3 <= len(predicate.split()) <= 14:
            return None
        return f"{claim.rstrip(' .')}, and {predicate}."

    def unsupported(self, passage: Passage, index: int, claim: str) -> tuple[str, str] | None:
        """Perturb a supported ``claim`` derived from sentence ``index`` of ``passage``."""
        kinds = [
            "number",
            "calendar",
            "entity-intrinsic",
            "entity-extrinsic",
            "exchange",
            "negation",
            "antonym",
            "pronoun",
            "splice",
            "append",
            "append-clause",
            "word",
            "unrelated",
        ]
        self.rng.shuffle(kinds)
        for kind in kinds:
            changed: str | None
            if kind == "number":
                changed = self._swap_number(claim, passage)
            elif kind == "calendar":
                changed = self._swap_calendar(claim)
            elif kind == "entity-intrinsic":
                changed = self._swap_entity(claim, passage, extrinsic=False)
            elif kind == "entity-extrinsic":
                changed = self._swap_entity(claim, passage, extrinsic=True)
            elif kind == "exchange":
                changed = self._exchange_entities(claim)
            elif kind == "negation":
                changed = self._negate(claim)
            elif kind == "antonym":
                changed = self._antonym(claim)
            elif kind == "pronoun":
                changed = self._flip_pronoun(claim)
            elif kind == "splice":
                changed = self._splice(passage, index)
            elif kind == "append":
                changed = self._append_detail(claim, passage)
            elif kind == "append-clause":
                changed = self._append_clause(claim, passage)
            elif kind == "word":
                changed = self._substitute_word(claim, passage)
            else:
                other = self.rng.choice([p for p in self.passages if p.source != passage.source])
                sentences = [d.text for d in self._docs[other.text] if len(d) >= 8]
                changed = self.rng.choice(sentences) if sentences else None
            if changed and changed != claim and changed.lower() not in passage.text.lower():
                return changed, kind
        return None

    # ---- datasets

    def claims(self, per_passage: int = 12) -> list[ClaimExample]:
        examples = []
        for passage in self.passages:
            indices = list(range(len(self._docs[passage.text])))
            self.rng.shuffle(indices)
            for index in indices[:per_passage]:
                made = self.supported(passage, index)
                if not made:
                    continue
                claim, kind = made
                if self.rng.random() < 0.5:
                    examples.append(self._noisy(ClaimExample(passage.text, claim, 1, kind, passage.source)))
                else:
                    bad = self.unsupported(passage, index, claim)
                    if bad:
                        examples.append(self._noisy(ClaimExample(passage.text, bad[0], 0, bad[1], passage.source)))
        return examples

    def answers(self, per_passage: int = 4) -> list[AnswerExample]:
        examples = []
        for passage in self.passages:
            docs = self._docs[passage.text]
            for _ in range(per_passage):
                size = self.rng.randint(2, 4)
                indices = sorted(self.rng.sample(range(len(docs)), min(size, len(docs))))
                made = [(i, self.supported(passage, i)) for i in indices]
                parts = [(i, m) for i, m in made if m]
                if len(parts) < 2:
                    continue
                claims = [m[0] for _, m in parts]
                kinds = [m[1] for _, m in parts]
                label = 1
                if self.rng.random() < 0.5:
                    position = self.rng.randrange(len(parts))
                    bad = self.unsupported(passage, parts[position][0], claims[position])
                    if not bad:
                        continue
                    claims[position], kinds[position], label = bad[0], bad[1], 0
                lower = self.rng.random() < 0.33
                claims = [_summary_style(c) if lower else c for c in claims]
                examples.append(AnswerExample(passage.text, tuple(claims), label, tuple(kinds), passage.source))
        return examples

    def _noisy(self, example: ClaimExample) -> ClaimExample:
        if self.rng.random() < 0.33:
            return ClaimExample(
                example.context, _summary_style(example.claim), example.label, example.kind, example.source
            )
        return example


def _summary_style(text: str) -> str:
    """Lower-cased and tokenised, as CNN/DailyMail-style summarisation data stores summaries."""
    text = text.lower()
    text = re.sub(r"([.,;:!?()\"])", r" \1 ", text)
    text = re.sub(r"(\w)('s|n't)\b", r"\1 \2", text)
    return re.sub(r"\s+", " ", text).strip()


def load_corpus(wiki_dir: Path | None) -> list[Passage]:
    passages = local_passages()
    if wiki_dir is not None and wiki_dir.is_dir():
        passages += wikitext_passages(wiki_dir)
    return passages


def kinds_of(examples: Iterable[ClaimExample]) -> list[str]:
    return sorted({e.kind for e in examples})
