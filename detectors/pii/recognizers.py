"""General recognizers we add to Presidio's predefined ones.

Each one encodes how a kind of personal data is written in the world (street-type words of European languages,
postal-code shapes, card-number checksums, the phrases people use to state an age or a name). None is built
from an evaluation file's rows or from a data generator's word lists.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import regex  # type: ignore[import-untyped]
from presidio_analyzer import AnalysisExplanation, LocalRecognizer, RecognizerResult

from detectors.pii.lexicon import (
    COMPANY_SUFFIXES,
    HONORIFICS,
    ORG_HEAD_WORDS,
    STREET_PREFIX_WORDS,
    STREET_SUFFIX_WORDS,
    STREET_TYPE_ENDINGS,
    UNIT_WORDS,
)

# A capitalised word in any script (names of people, places and streets), optionally hyphenated or with an
# apostrophe; an initial such as "G" or "G.".
CAP_WORD = r"(?:\p{Lu}[\p{L}\p{M}'\u2019]*(?:-\p{Lu}?[\p{L}\p{M}'\u2019]+)*)"
INITIAL = r"(?:\p{Lu}\.?)"
NAME_PARTICLE = r"(?:van|von|der|den|de|del|della|di|da|du|le|la|ten|ter|bin|al|y)"
NAME = rf"(?:{CAP_WORD}(?:[ \t]+(?:{CAP_WORD}|{INITIAL}(?=[ \t]+\p{{Lu}})|{NAME_PARTICLE}(?=[ \t]+\p{{Lu}}))){{0,3}})"

FLAGS = regex.VERSION1 | regex.MULTILINE
FLAGS_I = FLAGS | regex.IGNORECASE


def _alternation(words: Iterable[str]) -> str:
    # Longest first so "Street" wins over "St".
    return "|".join(regex.escape(w) for w in sorted(set(words), key=len, reverse=True))


CONTEXT_BOOST = 0.35  # Presidio's context similarity factor
CONTEXT_FLOOR = 0.4  # Presidio's minimum score with context
WORDS_BEFORE = 5
WORDS_AFTER = 2


def _recognizer_result(
    name: str, identifier: str, entity: str, start: int, end: int, score: float, label: str
) -> RecognizerResult:
    """A result that names its recognizer and pattern, as Presidio's own recognizers report theirs."""
    explanation = AnalysisExplanation(
        recognizer=name, original_score=score, pattern_name=label, textual_explanation=label
    )
    return RecognizerResult(
        entity_type=entity,
        start=start,
        end=end,
        score=score,
        analysis_explanation=explanation,
        recognition_metadata={
            RecognizerResult.RECOGNIZER_NAME_KEY: name,
            RecognizerResult.RECOGNIZER_IDENTIFIER_KEY: identifier,
        },
    )


class RegexRecognizer(LocalRecognizer):
    """Matches compiled patterns; the named group ``value`` (or the whole match) is the entity.

    Unlike Presidio's PatternRecognizer it can report a sub-span (e.g. the number in "a 65-year-old") and run a
    validator on it. Context words are looked up here, in the five words before and two after a match ("call me
    on ...", "... office"): Presidio's own enhancer looks only before, and skips spaCy's stop words, among which
    are "call" and "name".
    """

    def __init__(
        self,
        entity: str,
        patterns: Sequence[tuple[str, str, float]],
        context: Sequence[str] = (),
        flags: int = FLAGS,
        name: str | None = None,
    ) -> None:
        self.entity = entity
        self.recognizer_name: str = name or type(self).__name__
        self._patterns = [(label, regex.compile(p, flags), score) for label, p, score in patterns]
        super().__init__(
            supported_entities=[entity],
            supported_language="en",
            context=list(context),
            name=self.recognizer_name,
        )

    def load(self) -> None:
        pass

    def validate(self, value: str) -> bool:
        return True

    def base_score(self, text: str, start: int, end: int, score: float) -> float:
        """The score of a validated match before context; subclasses may refine the pattern's score."""
        return score

    def analyze(self, text: str, entities: list[str], nlp_artifacts: Any = None) -> list[RecognizerResult]:
        results: list[RecognizerResult] = []
        for label, pattern, score in self._patterns:
            for match in pattern.finditer(text):
                group = "value" if "value" in pattern.groupindex and match.group("value") is not None else 0
                start, end = match.span(group)
                value = text[start:end]
                if end <= start or not self.validate(value):
                    continue
                results.append(self._result(start, end, self.base_score(text, start, end, score), label))
        if self.context:
            for result in results:
                self._apply_context(text, result)
        return results

    def _apply_context(self, text: str, result: RecognizerResult) -> None:
        before = _WORD.findall(text[max(0, result.start - 80) : result.start])[-WORDS_BEFORE:]
        after = _WORD.findall(text[result.end : result.end + 40])[:WORDS_AFTER]
        words = [w.lower() for w in before + after]
        supportive = next((c for c in self.context if any(c in w for w in words)), None)
        # Marked as handled either way, so Presidio's enhancer does not boost a second time.
        result.recognition_metadata[RecognizerResult.IS_SCORE_ENHANCED_BY_CONTEXT_KEY] = True
        if supportive is not None:
            result.score = min(1.0, max(result.score + CONTEXT_BOOST, CONTEXT_FLOOR))
            result.analysis_explanation.set_supportive_context_word(supportive)
            result.analysis_explanation.set_improved_score(result.score)

    def _result(self, start: int, end: int, score: float, label: str) -> RecognizerResult:
        return _recognizer_result(self.recognizer_name, self.id, self.entity, start, end, score, label)


_WORD = regex.compile(r"[\p{L}\p{N}]+")


class HonorificRecognizer(RegexRecognizer):
    """TITLE: honorifics written before a name (Mr., Mrs., Dr., ...)."""

    def __init__(self) -> None:
        words = _alternation(HONORIFICS)
        super().__init__(
            "TITLE",
            [("honorific", rf"(?<![\w.])(?P<value>(?:{words})\.?)(?=[ \t]+\p{{Lu}})", 0.6)],
        )


class AgeRecognizer(RegexRecognizer):
    """AGE: a number stated as someone's age ("a 65-year-old", "aged 40", "turned 21", "when he was 78")."""

    def __init__(self) -> None:
        number = r"(?P<value>\d{1,3})"
        super().__init__(
            "AGE",
            [
                ("n-years-old", rf"\b{number}(?:[ \t]*|-)(?:years?|yrs?)(?:[ \t]*|-)old\b", 0.75),
                ("n-y/o", rf"\b{number}[ \t]*y/?o\b", 0.75),
                ("aged-n", rf"\b(?:aged|age(?:[ \t]*:|[ \t]+of|[ \t]+is)?)[ \t]+{number}\b(?![.,]\d)", 0.7),
                ("turned-n", rf"\bturn(?:ed|s|ing)?[ \t]+{number}(?=[ \t]*(?:years|[.,;!?]|$))", 0.65),
                (
                    "was-n",
                    rf"\b(?:when|since|until)[ \t]+(?:he|she|I|they|we|you)[ \t]+(?:was|were|am|is|are)[ \t]+{number}"
                    r"(?=[ \t]*(?:years|[.,;!?]|$))",
                    0.6,
                ),
                (
                    "i-am-n",
                    rf"\b(?:I\s+am|I'm|he\s+is|she\s+is|he's|she's)[ \t]+{number}(?=[ \t]*(?:years|[.,;!?]|$))",
                    0.6,
                ),
            ],
            flags=FLAGS_I,
        )

    def validate(self, value: str) -> bool:
        return 0 < int(value) < 125


class JobTitleRecognizer(RegexRecognizer):
    """TITLE: a job title in the phrases that introduce one ("I worked for X as Rolling machine operator",
    "Marie Langrová, the Packager, said", "Job title: ...")."""

    def __init__(self) -> None:
        stop = r"(?!(?i:at|for|in|with|but|and|since|until|from|of)\b)"
        title = rf"(?P<value>\p{{L}}[\p{{L}}'\u2019-]*(?:[ \t]+{stop}\p{{L}}[\p{{L}}'\u2019-]*){{0,5}})"
        end = r"(?=[ \t]*(?:[,.;!?\n]|$|[ \t]+(?i:at|for|in|with|but|since|until|from)\b))"
        super().__init__(
            "TITLE",
            [
                (
                    "worked-as",
                    r"\b(?i:work(?:s|ed|ing)?|employed|hired|serv(?:e|es|ed|ing)|job|position|role|career)\b[^.\n]{0,60}?"
                    rf"\b(?i:as)[ \t]+(?:(?i:an?|the)[ \t]+)?{title}{end}",
                    0.6,
                ),
                ("appositive", rf",[ \t]+(?i:the)[ \t]+{title},[ \t]+(?i:said|says|told|explained|added|wrote)\b", 0.6),
                (
                    "labelled",
                    rf"\b(?i:job[ \t]+title|position|occupation|profession|role)[ \t]*:[ \t]*{title}{end}",
                    0.7,
                ),
            ],
        )


class ContactCardTitleRecognizer(RegexRecognizer):
    """TITLE: the job-title line of a contact card or letterhead - a name line, then the title, then contact
    details ("Karin M. Beike / Leasing consultant / Fritz-Armstrong / ul. Miła 53")."""

    def __init__(self) -> None:
        person_line = r"[ \t>]*\p{L}[\p{L}.'\u2019-]*(?:[ \t]+\p{L}[\p{L}.'\u2019-]*){1,3}[ \t]*\n"
        title_line = r"[ \t>]*(?P<value>\p{L}[\p{L}'\u2019-]*(?:,?[ \t]+\p{L}[\p{L}'\u2019-]*){0,5})[ \t]*\n"
        super().__init__("TITLE", [("contact-card", rf"\A(?:[ \t>]*\n)*{person_line}(?:[ \t>]*\n)?{title_line}", 0.55)])

    def analyze(self, text: str, entities: list[str], nlp_artifacts: Any = None) -> list[RecognizerResult]:
        results = super().analyze(text, entities, nlp_artifacts)
        # Only a card: contact details (a digit or an e-mail address) follow the title line.
        return [r for r in results if regex.search(r"[\d@]", text[r.end :])]

    def validate(self, value: str) -> bool:
        words = value.split()
        if len(words) == 1:  # "Accountant", "nurse" - not a one-word company name ("Hopstop")
            return value.islower() or bool(_AGENT_NOUN.search(value))
        # Titles are written in sentence case ("Leasing consultant"); company names in title case.
        return any(w.islower() and w not in _SMALL_WORDS for w in words[1:]) or value.islower()


_AGENT_NOUN = regex.compile(r"(?:er|or|ist|ian|ant|ent|man|woman|wife|ive|ect|eon|ier|ess|ee)$")
_SMALL_WORDS = frozenset(["and", "of", "the", "for", "de", "van", "von"])


# Postal-code shapes across countries: US ZIP(+4), 4-5 digits, Swedish/Czech "123 45", Dutch "1234 AB",
# Polish "12-345", Portuguese "1234-567", Brazilian "12345-678", Canadian "A1A 1A1", British "SW1A 1AA".
POSTCODE = (
    r"(?:\d{5}-\d{3,4}|\d{4}-\d{3}|\d{2}-\d{3}|\d{3}[ ]\d{2}|\d{4}[ ]?\p{Lu}{2}|\p{Lu}\d\p{Lu}[ ]?\d\p{Lu}\d"
    r"|\p{Lu}{1,2}\d[\p{Lu}\d]?[ ]?\d\p{Lu}{2}|\d{3,6})"
)


class ZipCodeRecognizer(RegexRecognizer):
    """ZIP_CODE: a postal code introduced as one ("my zip code is 35350", "Postcode: SW1A 1AA")."""

    def __init__(self) -> None:
        super().__init__(
            "ZIP_CODE",
            [
                (
                    "labelled-postcode",
                    r"\b(?i:zip(?:[ \t]*code)?|postal[ \t]*code|post[ \t]*code|postcode|PLZ|CEP)"
                    rf"(?:[ \t]*(?:is|:|#|-))?[ \t]*(?P<value>{POSTCODE})\b",
                    0.75,
                )
            ],
        )


IIN_PREFIXES = (
    "1800",
    "2131",
    "22",
    "23",
    "24",
    "25",
    "26",
    "27",
    "30",
    "34",
    "35",
    "36",
    "37",
    "38",
    "39",
    "4",
    "5",
    "6",
)


def luhn_valid(digits: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2 == 1:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


class CardNumberRecognizer(RegexRecognizer):
    """CREDIT_CARD: 12-19 digits that pass the Luhn checksum and start with an issuer prefix.

    Presidio's own card recognizer misses 12-digit Maestro, 2-series Mastercard, old JCB and 19-digit Visa
    numbers. Without a card word nearby the score stays below the default threshold (many account numbers
    also pass Luhn by chance).
    """

    def __init__(self) -> None:
        super().__init__(
            "CREDIT_CARD",
            [("luhn-card", r"(?<![\d-])(?P<value>\d(?:[ -]?\d){11,18})(?![\d-])", 0.3)],
            context=["card", "credit", "debit", "cc", "visa", "mastercard", "amex", "maestro", "jcb", "discover"],
        )

    def validate(self, value: str) -> bool:
        digits = regex.sub(r"\D", "", value)
        return 12 <= len(digits) <= 19 and digits.startswith(IIN_PREFIXES) and luhn_valid(digits)


class PhoneNumberRecognizer(RegexRecognizer):
    """PHONE_NUMBER: digit groups shaped like a phone number.

    libphonenumber validates each candidate (international numbers by their country code, national ones of nine
    or more digits against the regions Presidio checks by default); a validated number scores 0.6. Short
    national formats such as "467 3395" or "60-56-85-91" cannot be validated without knowing the country, so
    they score 0.15 and are reported only when a phone word stands before or after them. Validating only the
    candidates, rather than scanning the text once per region, keeps this under a millisecond.
    """

    REGIONS = ("US", "GB", "DE", "FR", "IL", "IN", "CA", "BR")

    def __init__(self) -> None:
        super().__init__(
            "PHONE_NUMBER",
            [
                (
                    "grouped-digits",
                    r"(?<![\w+.-])(?P<value>(?:\+\d{1,3}[ .-]?)?(?:\(0?\d{1,4}\)[ .-]?)?\d{2,12}(?:[ .-]\d{2,8}){0,4}"
                    r"(?:[ ]?(?:x|ext\.?)[ ]?\d{1,5})?)(?![\w]|[.-]\d)",
                    0.15,
                )
            ],
            context=[
                "phone",
                "telephone",
                "tel",
                "mobile",
                "cell",
                "fax",
                "desk",
                "office",
                "call",
                "contact",
                "reach",
                "answering",
                "whatsapp",
                "sms",
                "text",
                "messages",
                "registered",
                "landline",
            ],
        )

    def validate(self, value: str) -> bool:
        main = regex.split(r"[ ]?(?:x|ext\.?)", value)[0]
        digits = regex.sub(r"\D", "", main)
        return 7 <= len(digits) <= 15 and not _DATE_SHAPE.match(main)

    def base_score(self, text: str, start: int, end: int, score: float) -> float:
        # Validated numbers start higher; context words then raise either kind.
        return 0.6 if _valid_phone(text[start:end], self.REGIONS) else score


def _valid_phone(value: str, regions: Sequence[str]) -> bool:
    import phonenumbers

    main = regex.split(r"[ ]?(?:x|ext\.?)", value)[0]
    if not main.startswith("+") and sum(ch.isdigit() for ch in main) < 9:
        return False  # short local numbers "validate" in some region by accident; they need a phone word
    for region in (None,) if main.startswith("+") else regions:
        try:
            number = phonenumbers.parse(main, region)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_valid_number(number):
            return True
    return False


_DATE_SHAPE = regex.compile(r"\d{4}[-./]\d{1,2}[-./]\d{1,2}|\d{1,2}[-./]\d{1,2}[-./]\d{2,4}")


class StreetAddressRecognizer(LocalRecognizer):
    """LOCATION: postal addresses, from the street line through unit, city, region, postcode and country lines.

    A street line is found in one of the world's common shapes, then the address is extended over what
    follows it on the same or the next lines while that looks like address parts (units, capitalised place
    names, region codes, postcodes).
    """

    ENTITY = "LOCATION"

    def __init__(self) -> None:
        suffix_words = _alternation(STREET_SUFFIX_WORDS)
        prefix_words = _alternation(STREET_PREFIX_WORDS)
        endings = _alternation(STREET_TYPE_ENDINGS)
        unit = _alternation(UNIT_WORDS)
        house = r"\d{1,5}[\p{L}]?(?:[/-]\d{1,4}[\p{L}]?)?\.?"
        number = rf"(?:\d{{1,5}}[ \t]+)?{house}"  # some writers put the postcode or a building number first
        street_cap = rf"(?!(?i:{unit})\b){CAP_WORD}"
        particle = r"(?:de|del|da|do|dos|das|di|la|le|des|du|van|von|der|den|am|im|an)(?=[ \t])"
        word = rf"(?:{street_cap}|\d{{1,3}}(?:st|nd|rd|th)?|{particle})"
        name_words = rf"(?:{word}\.?[ \t]+){{0,4}}"
        patterns = {
            # "12 Crown Street", "2450 Main St Apt 5", "3911 Fourth Avenue", "2224 Trenerys gate 232"
            "number-name-type": rf"(?<![\w-]){number}[ \t]+{name_words}{street_cap}[ \t]+(?i:{suffix_words})\b\.?"
            rf"(?:[ \t]+{house}(?!\d))?",
            # "106 Rue Ettatawer", "29 rue de Tanger" (French and Iberian order)
            "number-type-name": rf"(?<![\w-]){number}[ \t]+(?i:{prefix_words})\.?[ \t]+{name_words}{street_cap}",
            # "Villacher Strasse 89", "Via Franscini 71", "ul. Słowicza 10", "Erzsébet tér 19."
            "name-number": rf"(?:(?<![\w])(?i:{prefix_words})\.?[ \t]+{name_words}{street_cap}"
            rf"|(?<![\w]){name_words}{street_cap}[ \t]+(?i:{suffix_words})\.?)[ \t]+{house}(?!\d)",
            # "Puruntie 82", "Hafnarstraeti 5", "Søndergade 52" (street type written into the name)
            "compound-number": rf"(?<![\w-])(?:{number}[ \t]+)?(?:{CAP_WORD}[ \t]+)?"
            rf"\p{{Lu}}[\p{{L}}\p{{M}}-]*(?i:{endings})[ \t]+{house}(?!\d)",
            # "20789 Allika 46": a house/postal number, a name, a number
            "number-name-number": rf"(?<![\w-])\d{{3,5}}[ \t]+{CAP_WORD}(?:[ \t]+{CAP_WORD}){{0,2}}[ \t]+{house}"
            r"(?![\d\p{L}])",
            # "P.O. Box 242", "Postbox 21"
            "po-box": r"(?<![\w])(?:\d{1,5}[ \t]+)?"
            r"(?i:p\.?[ \t]?o\.?[ \t]?box|post(?:al)?[ \t]?box|postbox|postfach|apartado)[ \t]+\d{1,6}",
            # US military mail: "PSC 0413, Box 8144\nAPO AA 42323", "USNS Botolen\nFPO AE 12382"
            "military": r"(?<![\w])(?i:(?:PSC|CMR|Unit)[ \t]+\d{3,5},?[ \t]+Box[ \t]+\d{3,5}"
            r"|(?:USNS|USNV|USS|USCGC)[ \t]+[\p{L}\p{M}'\u2019-]+(?:[ \t]+[\p{L}\p{M}'\u2019-]+)?)"
            r"[ \t]*,?[ \t]*\n?[ \t]*(?i:APO|FPO|DPO)[ \t]+(?i:AA|AE|AP)[ \t]+\d{5}",
        }
        self._street = [(name, regex.compile(p, FLAGS)) for name, p in patterns.items()]
        self._corner = regex.compile(
            r"\b(?i:corner[ \t]+of)[ \t]+(?P<value>[^\n,;?!]{2,60}?[ \t]+(?:and|&)[ \t]+[^\n,;?!]{2,60}?)"
            r"(?=[ \t]*(?:[\n,;?!]|\.(?:\s|$)|$|[ \t]+(?:in|for|after|before|to|on|at)\b))",
            FLAGS,
        )
        self._unit = regex.compile(
            rf"[ \t]*,?[ \t]*(?:\n[ \t>]*)?(?:(?i:{unit})\.?[ \t]*#?[ \t]*\d{{1,5}}[\p{{L}}]?|#[ \t]?\d{{1,5}})", FLAGS
        )
        # One following address part: a postcode, a region code, or capitalised place words, separated from
        # the previous part by a comma and/or one line break (and the indentation or quote marks around it).
        joiner = r"(?:de|del|do|da|di|la|le|sur|am|an|nad|pod|upon|on)"
        place = (
            rf"(?:{CAP_WORD}|\p{{Lu}}{{2,}})(?:[ \t]+(?:{CAP_WORD}|\p{{Lu}}{{2,}}|\((?:[^()\n]{{1,30}})\)|{joiner}))*"
        )
        self._part = regex.compile(
            rf"(?:[ \t]*,[ \t]*(?:\n[ \t>]*)?|[ \t]*\n[ \t>]*(?:\n[ \t>]*)?|[ \t]+)"
            rf"(?P<part>{POSTCODE}(?![\w-])|{place}(?:[ \t]+{POSTCODE}(?![\w-]))?)",
            FLAGS,
        )
        self.recognizer_name = "StreetAddressRecognizer"
        super().__init__(
            supported_entities=[self.ENTITY], supported_language="en", context=[], name=self.recognizer_name
        )

    def load(self) -> None:
        pass

    def analyze(self, text: str, entities: list[str], nlp_artifacts: Any = None) -> list[RecognizerResult]:
        spans: list[tuple[int, int, str]] = []
        for name, pattern in self._street:
            spans.extend((m.start(), m.end(), name) for m in pattern.finditer(text))
        spans.extend((m.start("value"), m.end("value"), "corner") for m in self._corner.finditer(text))
        results = []
        for start, end, name in _outermost(spans):
            end = self._extend(text, end)
            score = 0.6 if name == "number-name-number" else 0.95
            results.append(self._result(start, end, score, name))
        return _dedupe(results)

    def _extend(self, text: str, end: int) -> int:
        if unit := self._unit.match(text, end):
            end = unit.end()
        for _ in range(5):
            part = self._part.match(text, end)
            if part is None or _is_sentence_start(text, part):
                break
            if text[end - 1] == "." and not regex.search(r"[,\n]", text[end : part.start("part")]):
                break  # "... Main Street. It is" - a new sentence, not the next address part
            end = part.end()
            if unit := self._unit.match(text, end):
                end = unit.end()
        return end

    def _result(self, start: int, end: int, score: float, label: str) -> RecognizerResult:
        return _recognizer_result(self.recognizer_name, self.id, self.ENTITY, start, end, score, label)


def _is_sentence_start(text: str, part: Any) -> bool:
    # A capitalised word after ". " or followed by a colon starts something else ("Mobile: 0490 ...").
    after = text[part.end() : part.end() + 1]
    return after == ":" or (text[part.start() : part.start("part")].strip() == "" and after == "'")


def _outermost(spans: list[tuple[int, int, str]]) -> list[tuple[int, int, str]]:
    """Drop spans inside a longer one and merge overlapping ones (keeping the first's label)."""
    merged: list[tuple[int, int, str]] = []
    for start, end, name in sorted(spans, key=lambda s: (s[0], -s[1])):
        if merged and start < merged[-1][1]:
            previous = merged[-1]
            merged[-1] = (previous[0], max(previous[1], end), previous[2])
        else:
            merged.append((start, end, name))
    return merged


def _dedupe(results: list[RecognizerResult]) -> list[RecognizerResult]:
    kept: list[RecognizerResult] = []
    for result in sorted(results, key=lambda r: (r.start, -r.end)):
        if kept and result.start < kept[-1].end:
            kept[-1].end = max(kept[-1].end, result.end)
            continue
        kept.append(result)
    return kept


class NameCueRecognizer(RegexRecognizer):
    """PERSON: a capitalised name in the phrases people use to give, address or talk about a person.

    ("my name is ...", "Dear ...", "Mr. ...", a dialogue speaker "Anna: ...", "... said", "says ...",
    "... lives on", "add ... as a beneficiary", "Anna's daughter").
    """

    def __init__(self) -> None:
        honorifics = _alternation(HONORIFICS)
        cues = (
            r"(?i:my[ \t]+name[ \t]+is|name[ \t]+is|names?[ \t]*:"
            r"|(?:first|last|full|sur|maiden)[ \t]*name(?:[ \t]+is|[ \t]*:)"
            r"|call[ \t]+me|signed|regards,?|sincerely,?|dear|hi|hello|hey|thanks|thank[ \t]+you"
            r"|assistant[ \t]+to|spoke[ \t]+(?:to|with)|speak[ \t]+(?:to|with)|talk[ \t]+to|ask(?:ed)?[ \t]+for"
            r"|follow[ \t]+up[ \t]+with|contact[ \t]+person[ \t]*:?|account[ \t]+holder[ \t]*:?|beneficiary"
            r"|directed[ \t]+by|written[ \t]+by|composed[ \t]+by|produced[ \t]+by|starring|featuring|feat\."
            r"|according[ \t]+to|named[ \t]+(?:him|her|it|them)|(?:partner|husband|wife|son|daughter)'s[ \t]+name"
            r"|(?:it'?s|is)[ \t]+under|under[ \t]+the[ \t]+name)"
        )
        speech = r"(?:says|said|asks|asked|replied|shouted|yelled|told|explained|wrote|whispered|added)"
        human_verbs = (
            r"(?:lives|lived|grew[ \t]+up|was[ \t]+born|is[ \t]+from|works|worked|spent|studied|retired|had[ \t]+given"
            r"|listed|shouted|said|says|asked|told|is[ \t]+a[ \t]+very|is[ \t]+very|will[ \t]+be[ \t]+talking)"
        )
        relations = (
            r"(?:daughter|son|wife|husband|mother|father|mom|dad|kid|kids|child|children|friend|brother|sister"
            r"|family|boss|partner|novel|book|books|song|songs|album|poems)"
        )
        super().__init__(
            "PERSON",
            [
                ("cue-name", rf"(?<![\w])(?:{cues})[ \t]*[,:]?[ \t]*\n?[ \t]*(?P<value>{NAME})", 0.7),
                ("honorific-name", rf"(?<![\w.])(?:{honorifics})\.?[ \t]+(?P<value>{NAME})", 0.8),
                (
                    "asked-name",
                    rf"(?i:\bname)\b[^\n.?!]{{0,40}}\?[ \t]*(?:(?:User|Customer|A)[ \t]*:[ \t]*)?(?P<value>{NAME})",
                    0.7,
                ),
                (
                    "speaker",
                    rf"^[ \t>]*(?P<value>{CAP_WORD}(?:[ \t]+{CAP_WORD})?)[ \t]*:[ \t]*"
                    r"(?=[\"\u201c'\u2018]|\p{Lu}[\p{Ll}])",
                    0.6,
                ),
                ("says-name", rf"\b{speech}[ \t]+(?:(?:at|to)[ \t]+)?(?P<value>{NAME})", 0.65),
                ("said-to-name", rf"\b{speech}[ \t]+{NAME}[ \t]+(?:at|to)[ \t]+(?P<value>{NAME})", 0.65),
                ("name-says", rf"(?P<value>{NAME})[ \t]+{human_verbs}\b", 0.65),
                (
                    "vocative",
                    rf"(?:^|[.!?][ \t]+)(?P<value>{NAME}),[ \t]+"
                    r"(?i:can|could|would|will|please|I|we|do|did|are|is|have|you)\b",
                    0.6,
                ),
                ("possessive-relation", rf"(?P<value>{NAME})['\u2019]s[ \t]+(?i:{relations})\b", 0.65),
                ("add-as", rf"\b(?i:add|added|adding)[ \t]+(?P<value>{NAME})[ \t]+as\b", 0.65),
            ],
        )

    def validate(self, value: str) -> bool:
        words = value.lower().replace("\u2019", "'").split()
        return words[0] not in _NOT_NAMES and not any(w in _FIELD_LABELS for w in words)


# Capitalised words that follow a name cue but are not names ("Hi All", "Dear Sir", "This is Amazing").
_NOT_NAMES = frozenset(
    [
        "all",
        "team",
        "everyone",
        "everybody",
        "sir",
        "madam",
        "there",
        "guys",
        "folks",
        "customer",
        "support",
        "service",
        "sales",
        "the",
        "a",
        "an",
        "my",
        "our",
        "your",
        "his",
        "her",
        "their",
        "this",
        "that",
        "it",
        "is",
        "not",
        "so",
        "very",
        "really",
        "just",
        "please",
        "thanks",
        "thank",
        "mr",
        "mrs",
        "ms",
        "dr",
        "i",
        "we",
        "you",
        "he",
        "she",
        "they",
        "what",
        "who",
        "where",
        "when",
        "why",
        "how",
        "yes",
        "no",
        "ok",
        "okay",
        "hello",
        "hi",
        "hey",
        "i'm",
        "i'd",
        "i'll",
        "i've",
        "it's",
        "that's",
        "there's",
        "we're",
        "you're",
        "he's",
        "she's",
        "let's",
    ]
)

# Line-start labels of forms and chats ("Phone:", "Address:", "Bot:") that are not speakers' names.
_FIELD_LABELS = frozenset(
    [
        "name",
        "address",
        "phone",
        "mobile",
        "desk",
        "fax",
        "tel",
        "telephone",
        "email",
        "e-mail",
        "website",
        "web",
        "url",
        "note",
        "notes",
        "subject",
        "from",
        "to",
        "cc",
        "date",
        "time",
        "re",
        "fw",
        "fwd",
        "bot",
        "user",
        "customer",
        "agent",
        "assistant",
        "system",
        "question",
        "answer",
        "q",
        "a",
        "title",
        "company",
        "job",
        "position",
        "location",
        "city",
        "country",
        "state",
        "zip",
        "postcode",
        "code",
        "id",
        "number",
        "account",
        "card",
        "iban",
        "ssn",
        "dob",
        "birthday",
        "age",
        "gender",
        "personal",
        "info",
        "information",
        "contact",
        "details",
        "directed",
        "by",
        "written",
        "produced",
        "starring",
        "cast",
        "summary",
        "description",
        "comment",
        "comments",
        "message",
        "reply",
        "update",
        "warning",
        "error",
        "status",
        "total",
        "price",
        "amount",
        "ps",
    ]
)


class PlaceCueRecognizer(RegexRecognizer):
    """LOCATION: a capitalised place name after phrases of travel and residence ("flew to", "grew up in")."""

    def __init__(self) -> None:
        verbs = (
            r"(?i:fl(?:ew|y|ying|ies)|mov(?:ed|e|ing)(?:[ \t]+here)?|travel(?:l?ed|l?ing|s)?|relocat(?:ed|ing|e)"
            r"|went|go|going|gone|drove|drive|driving|arrived|arriving|returned|returning|headed|heading"
            r"|grew[ \t]+up|born|raised|liv(?:e|es|ed|ing)|based|located|situated|stay(?:ed|ing|s)?"
            r"|(?:I|we)[ \t]+am|I'm|we're|we[ \t]+are|vacation|holiday|trip|year|originally)"
        )
        prepositions = r"(?i:to|in|from|at|near|into|back[ \t]+to)"
        bare_cues = r"(?i:home[ \t]+city|city[ \t]+of|town[ \t]+of|visit(?:ed|ing)?)"
        super().__init__(
            "LOCATION",
            [
                ("cue-place", rf"(?<![\w]){verbs}[ \t]+{prepositions}[ \t]+(?P<value>{NAME})", 0.7),
                ("bare-cue-place", rf"(?<![\w]){bare_cues}[ \t]+(?P<value>{NAME})", 0.7),
            ],
        )

    def validate(self, value: str) -> bool:
        return value.split()[0].lower() not in _NOT_PLACES


_NOT_PLACES = frozenset(
    [
        "the",
        "a",
        "an",
        "my",
        "our",
        "your",
        "his",
        "her",
        "their",
        "this",
        "that",
        "it",
        "i",
        "we",
        "you",
        "he",
        "she",
        "they",
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
        "saturday",
        "sunday",
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
        "today",
        "tomorrow",
        "tonight",
        "home",
        "work",
        "school",
        "church",
        "bed",
        "here",
        "there",
    ]
)


class OrganizationSuffixRecognizer(RegexRecognizer):
    """ORGANIZATION: capitalised words ending in a legal-form or organisation word ("Abt Associates",
    "Healthpocket Inc", "Shepherd Ltd."), "University of ...", and names in employment phrases
    ("I work for ...", "the ... office", "... is a design agency")."""

    def __init__(self) -> None:
        suffixes = _alternation(COMPANY_SUFFIXES)
        heads = _alternation(ORG_HEAD_WORDS)
        org = rf"(?:{CAP_WORD}(?:[ \t]+{CAP_WORD}){{0,3}})"
        joined = r"(?:[ \t]+|,[ \t]*|[ \t]*&[ \t]*|[ \t]+and[ \t]+)"
        kinds = (
            r"(?:company|agency|bank|firm|startup|start-up|business|corporation|organi[sz]ation|non-profit|nonprofit"
            r"|charity|brand|manufacturer|retailer|provider|consultancy|institution|employer|enterprise|501\(c\)3)"
        )
        super().__init__(
            "ORGANIZATION",
            [
                (
                    "company-suffix",
                    rf"(?<![\w])(?P<value>{CAP_WORD}(?:{joined}{CAP_WORD}){{0,3}}"
                    rf"[ \t]*,?[ \t]+(?:{suffixes})(?:\.|\b))",
                    0.75,
                ),
                ("head-word", rf"(?<![\w])(?P<value>(?:{heads})[ \t]+of[ \t]+{NAME})", 0.6),
                (
                    "works-for",
                    r"\b(?i:work(?:s|ed|ing)?|employed|job|internship|position)[ \t]+(?i:for|at|with)[ \t]+"
                    rf"(?P<value>{org})",
                    0.7,
                ),
                (
                    "office-of",
                    rf"\b(?i:the)[ \t]+(?P<value>{org})[ \t]+"
                    r"(?i:office|offices|headquarters|HQ|team|staff|employees)\b",
                    0.65,
                ),
                (
                    "is-a-company",
                    rf"(?P<value>{org})[ \t]+(?i:is|was|became)[ \t]+(?i:a|an|the)[ \t]+(?:[\w-]+[ \t]+){{0,4}}{kinds}",
                    0.65,
                ),
            ],
        )


def general_recognizers() -> list[Any]:
    """Our recognizers, added beside Presidio's predefined ones."""
    return [
        HonorificRecognizer(),
        JobTitleRecognizer(),
        ContactCardTitleRecognizer(),
        AgeRecognizer(),
        ZipCodeRecognizer(),
        CardNumberRecognizer(),
        PhoneNumberRecognizer(),
        StreetAddressRecognizer(),
        NameCueRecognizer(),
        PlaceCueRecognizer(),
        OrganizationSuffixRecognizer(),
    ]
