# ruff: noqa: RUF001 - the confusables table is made of look-alike letters on purpose
"""Undo the tricks attackers use to hide an instruction from pattern matchers and classifiers.

``normalize(text)`` returns the canonical text (what the classifier reads), the decoded payloads that were hidden in
it (base64, hex, rot13, URL-encoding, HTML entities, reversed text, the NATO alphabet, Unicode tag characters), a
"compact" variant with letter padding removed, and the names of the obfuscations found: an obfuscation is itself a
signal, because ordinary users rarely write ``1gn0r3`` or hide text in tag characters.

Everything here is plain string work (no models), built to stay well under a millisecond for a typical prompt:
each decoder is gated by a cheap regular expression and only runs when its kind of payload can be present.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import html
import re
import unicodedata
import urllib.parse
from dataclasses import dataclass, field

# -------------------------------------------------------------------------------------------- invisible characters

# Zero-width and other invisible format characters (incl. soft hyphen, word joiner, invisible operators).
_INVISIBLE = "\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180e\u200b\u200c\u200d\u2060\u2061\u2062\u2063\u2064\ufeff"
_BIDI = "\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
_INVISIBLE_RE = re.compile(f"[{_INVISIBLE}]")
_BIDI_RE = re.compile(f"[{_BIDI}]")
_SPLIT_WORD_RE = re.compile(f"[A-Za-z][{_INVISIBLE}]+[A-Za-z]")
_VARIATION_RE = re.compile("[\ufe00-\ufe0f\U000e0100-\U000e01ef]")
_TAG_RE = re.compile("[\U000e0000-\U000e007f]+")

# ------------------------------------------------------------------------------------------------ confusables

# Cyrillic and Greek letters that look like Latin ones (the subset of Unicode's confusables.txt attackers use).
_CONFUSABLES = {
    # Cyrillic
    "а": "a", "в": "b", "е": "e", "ё": "e", "к": "k", "м": "m", "н": "h", "о": "o", "р": "p", "с": "c", "т": "t",
    "у": "y", "х": "x", "ѕ": "s", "і": "i", "ї": "i", "ј": "j", "ԁ": "d", "ԛ": "q", "ԝ": "w", "һ": "h", "ո": "n",
    "А": "A", "В": "B", "Е": "E", "К": "K", "М": "M", "Н": "H", "О": "O", "Р": "P", "С": "C", "Т": "T", "У": "Y",
    "Х": "X", "Ѕ": "S", "І": "I", "Ј": "J", "Ԁ": "D", "Ԛ": "Q", "Ԝ": "W", "Һ": "H", "г": "r", "п": "n",
    # Greek
    "α": "a", "β": "b", "ε": "e", "ι": "i", "κ": "k", "ν": "v", "ο": "o", "ρ": "p", "τ": "t", "υ": "u", "χ": "x",
    "γ": "y", "Α": "A", "Β": "B", "Ε": "E", "Ζ": "Z", "Η": "H", "Ι": "I", "Κ": "K", "Μ": "M", "Ν": "N", "Ο": "O",
    "Ρ": "P", "Τ": "T", "Υ": "Y", "Χ": "X", "ϲ": "c", "ϳ": "j",
    # Latin look-alikes outside ASCII that NFKC keeps
    "ı": "i", "ȷ": "j", "ɑ": "a", "ɡ": "g", "ɩ": "i", "ʏ": "y", "ᴀ": "a", "ʙ": "b", "ᴄ": "c", "ᴅ": "d", "ᴇ": "e",
    "ɢ": "g", "ʜ": "h", "ɪ": "i", "ᴊ": "j", "ᴋ": "k", "ʟ": "l", "ᴍ": "m", "ɴ": "n", "ᴏ": "o", "ᴘ": "p", "ʀ": "r",
    "ꜱ": "s", "ᴛ": "t", "ᴜ": "u", "ᴠ": "v", "ᴡ": "w", "ʏ\u0307": "y", "ᴢ": "z",
}  # fmt: skip
_CONFUSABLE_CHARS = "".join(sorted(k for k in _CONFUSABLES if len(k) == 1))
_CONFUSABLE_TABLE = str.maketrans({k: v for k, v in _CONFUSABLES.items() if len(k) == 1})
_WORD_RE = re.compile(r"\w+")
_CONFUSABLE_RE = re.compile(f"[{re.escape(_CONFUSABLE_CHARS)}]")
_LATIN_RE = re.compile(r"[A-Za-z]")

# ------------------------------------------------------------------------------------------------- leetspeak

_LEET = str.maketrans({"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s", "!": "i"})
_LEET_CHARS = set("013457@$!")
_LEET_TOKEN_RE = re.compile(r"[A-Za-z0-9@$!]+")
_LEET_HINT_RE = re.compile(r"[A-Za-z][013457@$!]|[013457@$][A-Za-z]")
# An e-mail address's "@" is no leetspeak (a message listing two addresses was flagged as obfuscated).
_EMAIL_RE = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")

# ------------------------------------------------------------------------------------------ padding and spacing

# Four or more single letters separated by one kind of padding: "i g n o r e", "i.g.n.o.r.e", "i-g-n-o-r-e".
_PADDED_RE = re.compile(r"(?<![A-Za-z])(?:[A-Za-z][ .\-_*|/+~,]{1,3}){3,}[A-Za-z](?![A-Za-z])")
_PAD_CHARS_RE = re.compile(r"[ .\-_*|/+~,]")
_SPACES_RE = re.compile(r"[ \t\u00a0\u2000-\u200a\u3000]+")

# ---------------------------------------------------------------------------------------------------- payloads

_BASE64_RE = re.compile(r"(?<![A-Za-z0-9+/=_-])[A-Za-z0-9+/_-]{16,}={0,2}(?![A-Za-z0-9+/=_-])")
_HEX_RE = re.compile(r"(?<![0-9A-Fa-f])(?:(?:0x|\\x)?[0-9A-Fa-f]{2}[\s:,]?){8,}")
_URLENC_RE = re.compile(r"(?:%[0-9A-Fa-f]{2}[^%\s]{0,3}){3,}")
_HEX_PAIRS = frozenset(f"{i:02x}" for i in range(256))
_HTML_ENTITY_RE = re.compile(r"&#?[0-9A-Za-z]{2,8};")
_NATO = {
    "alfa": "a", "alpha": "a", "bravo": "b", "charlie": "c", "delta": "d", "echo": "e", "foxtrot": "f", "golf": "g",
    "hotel": "h", "india": "i", "juliet": "j", "juliett": "j", "kilo": "k", "lima": "l", "mike": "m",
    "november": "n", "oscar": "o", "papa": "p", "quebec": "q", "romeo": "r", "sierra": "s", "tango": "t",
    "uniform": "u", "victor": "v", "whiskey": "w", "whisky": "w", "xray": "x", "x-ray": "x", "yankee": "y",
    "zulu": "z",
}  # fmt: skip
_NATO_RE = re.compile(r"\b(?:(?:" + "|".join(_NATO) + r")\b[\s,.\-]*){4,}", re.IGNORECASE)

# Words that make a decoded string look like English prose (and like an instruction), to accept a decoding.
_ENGLISH = frozenset(
    [
        "the",
        "you",
        "your",
        "and",
        "to",
        "of",
        "a",
        "is",
        "are",
        "all",
        "any",
        "ignore",
        "previous",
        "instructions",
        "instruction",
        "system",
        "prompt",
        "rules",
        "now",
        "tell",
        "me",
        "reveal",
        "print",
        "forget",
        "disregard",
        "above",
        "prior",
        "say",
        "what",
        "with",
        "this",
        "that",
        "do",
        "not",
        "be",
        "as",
        "it",
        "in",
        "for",
    ]
)


# Transformations ordinary text needs too (links, HTML, emoji): decoded and scanned, but not evidence of intent.
INCIDENTAL = frozenset({"url_encoding", "html_entities", "variation_selectors", "enclosed_letters"})


@dataclass(frozen=True, slots=True)
class Normalized:
    """A text with its obfuscations undone."""

    text: str
    """The canonical text: NFKC, confusables folded, invisible and bidi characters removed, leetspeak folded inside
    words, letter padding collapsed. The classifier reads this."""
    payloads: tuple[str, ...] = ()
    """Texts decoded from hidden payloads (each normalised too); scanned like the text itself."""
    compact: str = ""
    """The canonical text with single-letter padding joined even where no word boundary survives (rules that
    allow missing spaces read it); empty when no padding was found."""
    obfuscations: tuple[str, ...] = ()
    """Names of what was undone, e.g. ``zero_width``, ``homoglyphs``, ``base64``."""
    hidden: tuple[str, ...] = field(default=(), repr=False)
    """Payload texts whose presence was invisible to a human reader (tag characters)."""

    @property
    def suspicious(self) -> tuple[str, ...]:
        """The obfuscations that are evidence of hiding something (everything but :data:`INCIDENTAL`)."""
        return tuple(o for o in self.obfuscations if o not in INCIDENTAL)

    @property
    def texts(self) -> tuple[str, ...]:
        """Every text the rules read: the canonical text, the compact variant and each payload."""
        return tuple(t for t in (self.text, self.compact, *self.payloads) if t)


_PUNCT = ".,;:!?\"'()[]{}<>"


def _english_score(text: str) -> int:
    return sum(1 for word in text.lower().split() if word.strip(_PUNCT) in _ENGLISH)


def _printable(decoded: str) -> bool:
    if len(decoded) < 6:
        return False
    good = sum(1 for ch in decoded if ch.isprintable() or ch in "\n\t")
    letters = sum(1 for ch in decoded if ch.isalpha())
    return good / len(decoded) > 0.95 and letters / len(decoded) > 0.5 and " " in decoded.strip()


def _decode_base64(token: str) -> str | None:
    if not re.search(r"[A-Z]", token) or not re.search(r"[a-z0-9]", token):
        return None  # a plain lowercase or uppercase word run is not base64
    padded = token + "=" * (-len(token) % 4)
    try:
        raw = base64.b64decode(padded, altchars=b"-_" if ("-" in token or "_" in token) else None, validate=True)
        decoded = raw.decode("utf-8")
    except (binascii.Error, ValueError):
        return None
    return decoded if _printable(decoded) else None


def _decode_hex(token: str) -> str | None:
    digits = re.sub(r"0x|\\x|[\s:,]", "", token)
    if len(digits) % 2:
        digits = digits[:-1]
    try:
        decoded = bytes.fromhex(digits).decode("utf-8")
    except ValueError:
        return None
    return decoded if _printable(decoded) else None


def _fold_confusables(text: str) -> tuple[str, bool]:
    """Fold look-alike letters, but only in words that mix them with Latin letters or in mostly-Latin text, so a
    Russian or Greek sentence keeps its own script (the multilingual rules read it)."""
    if not _CONFUSABLE_RE.search(text):
        return text, False
    latin = len(_LATIN_RE.findall(text))
    other = sum(1 for ch in text if ch.isalpha() and not ("a" <= ch.lower() <= "z"))
    mostly_latin = latin > other

    def fold(match: re.Match[str]) -> str:
        word = match.group(0)
        if not _CONFUSABLE_RE.search(word):
            return word
        if _LATIN_RE.search(word) or mostly_latin:
            return word.translate(_CONFUSABLE_TABLE)
        return word

    folded = _WORD_RE.sub(fold, text)
    return folded, folded != text


def _fold_leet(text: str) -> tuple[str, int]:
    """Map digits and symbols to letters inside words that mix them (``1gn0r3`` → ``ignore``); numbers stay."""
    changed = 0
    if not any(ch in text for ch in "013457@$!") or not _LEET_HINT_RE.search(text):
        return text, 0

    emails = [m.span() for m in _EMAIL_RE.finditer(text)] if "@" in text else []

    def fold(match: re.Match[str]) -> str:
        nonlocal changed
        token = match.group(0)
        if any(start <= match.start() < end for start, end in emails):
            return token
        leet = [i for i, ch in enumerate(token) if ch in _LEET_CHARS]
        letters = sum(1 for ch in token if ch.isalpha())
        if not leet or letters == 0 or any(ch.isdigit() and ch not in _LEET_CHARS for ch in token):
            return token
        interior = any(0 < i < len(token) - 1 for i in leet)
        # "mp3", "b4", "hello!" stay; "f0rg3t", "pr0mpt", "1gnore" are folded.
        if len(leet) < 2 and not interior and not (leet[0] == 0 and token[0] in "0134"):
            return token
        if all(token[i] in "!$@" for i in leet) and not interior:
            return token
        changed += 1
        return token.translate(_LEET)

    return _LEET_TOKEN_RE.sub(fold, text), changed


def _collapse_padding(text: str) -> tuple[str, str]:
    """Join letters padded apart. Returns (text with runs joined, word gaps kept where visible; compact variant)."""
    if not _PADDED_RE.search(text):
        return text, ""

    def join(match: re.Match[str]) -> str:
        run = match.group(0)
        # A wider gap (two spaces, " / ") between letters marks a word boundary the attacker kept.
        words = re.split(r"\s{2,}|\s*[/|]\s*(?=[A-Za-z][ .\-_*+~,])", run)
        return " ".join(_PAD_CHARS_RE.sub("", w) for w in words if w)

    joined = _PADDED_RE.sub(join, text)
    compact = _PADDED_RE.sub(lambda m: _PAD_CHARS_RE.sub("", m.group(0)), text)
    return joined, compact


def _decode_payloads(text: str, found: list[str]) -> list[str]:
    decoded: list[str] = []

    def keep(kind: str, value: str | None) -> None:
        if value and value.strip() and value not in decoded:
            decoded.append(value)
            if kind not in found:
                found.append(kind)

    # One split serves every gate: each decoder's own expression runs only when its gate finds a candidate.
    words = text.lower().split()
    if any(len(w) >= 16 for w in words):
        for token in _BASE64_RE.findall(text):
            if not re.fullmatch(r"[0-9A-Fa-f]+", token):
                keep("base64", _decode_base64(token))
    if any(len(w) >= 16 for w in words) or sum(1 for w in words if w.strip(",:") in _HEX_PAIRS) >= 8:
        for token in _HEX_RE.findall(text):
            keep("hex", _decode_hex(token.strip()))
    if "%" in text:
        for token in _URLENC_RE.findall(text):
            keep("url_encoding", urllib.parse.unquote(token))
    if "&" in text and _HTML_ENTITY_RE.search(text):
        unescaped = html.unescape(text)
        if unescaped != text:
            keep("html_entities", unescaped)
    if sum(1 for w in words if w.strip(_PUNCT) in _NATO) >= 4:
        for match in _NATO_RE.finditer(text):
            letters = re.findall(r"[A-Za-z-]+", match.group(0).lower())
            keep("nato_alphabet", "".join(_NATO.get(w, "") for w in letters))
    # rot13 and reversed text have no marker: accept them when they read as English and the original does not.
    # Ordinary English prose is full of these words already; only text that reads as gibberish is tried.
    baseline = sum(1 for word in words if word.strip(_PUNCT) in _ENGLISH) if len(words) >= 3 else 0
    if len(words) >= 3 and baseline < max(2, len(words) // 8):
        for kind, candidate in (("rot13", codecs.encode(text, "rot13")), ("reversed", text[::-1])):
            score = _english_score(candidate)
            if score >= 3 and score > 2 * baseline + 1:
                keep(kind, candidate)
    return decoded


def _unicode_cleanup(text: str, found: list[str], hidden: list[str]) -> str:
    """Tag characters (decoded into ``hidden``), invisible and bidi characters, NFKC and confusables."""
    if _TAG_RE.search(text):
        for run in _TAG_RE.findall(text):
            ascii_text = "".join(chr(ord(ch) - 0xE0000) for ch in run if 0xE0020 <= ord(ch) <= 0xE007E)
            if ascii_text.strip():
                hidden.append(ascii_text)
        text = _TAG_RE.sub("", text)
        found.append("tag_characters")
    if _INVISIBLE_RE.search(text):
        # Inside a word an invisible character splits it for a pattern matcher while a reader sees one word. Only
        # that counts as an obfuscation: joiners in emoji sequences and Persian script are ordinary text.
        if _SPLIT_WORD_RE.search(text):
            found.append("zero_width")
        text = _INVISIBLE_RE.sub("", text)
    if _BIDI_RE.search(text):
        text = _BIDI_RE.sub("", text)
        found.append("bidi_controls")
    if _VARIATION_RE.search(text):
        text = _VARIATION_RE.sub("", text)
        found.append("variation_selectors")
    # Full-width letters and digits (CJK text uses full-width punctuation, which is no obfuscation).
    if any("\uff10" <= ch <= "\uff19" or "\uff21" <= ch <= "\uff3a" or "\uff41" <= ch <= "\uff5a" for ch in text):
        found.append("fullwidth")
    if any("\U0001d400" <= ch <= "\U0001d7ff" for ch in text):
        found.append("math_alphanumerics")
    if any("\u2460" <= ch <= "\u24ff" or "\U0001f130" <= ch <= "\U0001f189" for ch in text):
        found.append("enclosed_letters")
    text = unicodedata.normalize("NFKC", text)
    text, folded = _fold_confusables(text)
    if folded:
        found.append("homoglyphs")
    return text


def _canonical(text: str, found: list[str]) -> tuple[str, str, list[str]]:
    """The character-level clean-up shared by the text and every decoded payload."""
    hidden: list[str] = []
    if not text.isascii():  # the fast path: most prompts are plain ASCII
        text = _unicode_cleanup(text, found, hidden)
    text, leet_tokens = _fold_leet(text)
    if leet_tokens >= 2 or (leet_tokens == 1 and len(text) < 40):
        found.append("leetspeak")
    text, compact = _collapse_padding(text)
    if compact:
        found.append("letter_padding")
    text = _SPACES_RE.sub(" ", text)
    return text, compact, hidden


def normalize(text: str, depth: int = 2) -> Normalized:
    """Undo obfuscations in ``text``; payloads are decoded and normalised up to ``depth`` levels deep."""
    found: list[str] = []
    canonical, compact, hidden = _canonical(text, found)
    payloads: list[str] = []
    for secret in hidden:
        inner, _, _ = _canonical(secret, [])
        payloads.append(inner)
    queue = [canonical, *payloads] if depth > 0 else []
    for level in range(depth):
        next_queue: list[str] = []
        for source in queue:
            for decoded in _decode_payloads(source, found):
                inner_found: list[str] = []
                inner, _, _ = _canonical(decoded, inner_found)
                found.extend(k for k in inner_found if k not in found)
                if inner not in payloads and inner != canonical:
                    payloads.append(inner)
                    next_queue.append(inner)
        queue = next_queue
        if not queue or level + 1 >= depth:
            break
    return Normalized(
        text=canonical,
        payloads=tuple(payloads),
        compact=compact,
        obfuscations=tuple(dict.fromkeys(found)),
        hidden=tuple(hidden),
    )
