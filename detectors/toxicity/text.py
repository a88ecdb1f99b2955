"""Text clean-up shared by training and inference, so the head sees at run time what it was trained on.

Two forms:

* :func:`clean` — what the encoder embeds: HTML entities decoded, retweet prefixes, @handles and URLs removed.
  Twitter furniture carries no toxicity, and answers from a model never contain it, so leaving it in would teach the
  head cues that do not exist at run time.
* :func:`lexical` — what the character n-gram model reads: ``clean`` plus lower-casing and undoing the common
  obfuscations ("f*ck", "sh1t", "a$$", "fuuuuck"), so a masked word lands on the same n-grams as the plain one.
"""

from __future__ import annotations

import html
import re

_RETWEET = re.compile(r"(?:^|\s)RT\s+@\w+:?", re.IGNORECASE)
_HANDLE = re.compile(r"@\w+")
_URL = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)
_SPACE = re.compile(r"\s+")
# Leetspeak and symbol substitutions inside words (a digit between letters, or a symbol standing for a letter).
_LEET = str.maketrans({"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s", "!": "i"})
_MASKED_WORD = re.compile(r"[a-z]+[*#%]+[a-z]*|[*#%]+[a-z]+")
_OBFUSCATED = re.compile(r"(?<=[a-z])[0-9@$!]+(?=[a-z])|(?<=[a-z])[0-9@$]+(?!\w)|\b[0-9@$]+(?=[a-z]{2})")
_REPEAT = re.compile(r"(\w)\1{2,}")


def clean(text: str) -> str:
    text = html.unescape(html.unescape(text))  # the corpus double-escapes some entities (&amp;#128514;)
    text = _RETWEET.sub(" ", text)
    text = _URL.sub(" ", text)
    text = _HANDLE.sub(" ", text)
    return _SPACE.sub(" ", text).strip()


def lexical(text: str) -> str:
    text = clean(text).lower()
    text = _OBFUSCATED.sub(lambda m: m.group(0).translate(_LEET), text)
    # A masking symbol inside a word stands for one or more letters: drop it so "f*ck" and "fck" share n-grams
    # with "fuck" ("f", "ck") rather than with punctuation.
    text = _MASKED_WORD.sub(lambda m: re.sub(r"[*#%]+", "", m.group(0)), text)
    return _REPEAT.sub(r"\1\1", text)
