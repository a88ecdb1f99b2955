"""Counting tokens before the call, with the real tokenizer of the model family, offline.

OpenAI models (gpt-4o, gpt-4.1, gpt-5, o-series, gpt-4, gpt-3.5, embeddings, gpt-oss): `tiktoken` with the
encoding tiktoken itself names for the model (o200k_base, cl100k_base, p50k_base) — exact. tiktoken normally
downloads its BPE files at first use; nothing may download at run time, so the files come from a directory filled
ahead of time by ``railguard tokenizers fetch`` (from a PyPI package that ships them; see `fetch`), or from an
operator's own ``TIKTOKEN_CACHE_DIR``. Each file is checked against the sha256 tiktoken pins before it is used.

Other model families (Claude, Llama, Mistral, Gemini, ...): no offline tokenizer covers them, so the count is an
approximation: o200k_base's count when that file is present (modern BPE vocabularies land within about ±20% of it
on English), else one token per 4 UTF-8 bytes, rounded up. `TokenCounter.exact(model)` says which applies.

Chat requests add OpenAI's message framing (the cookbook's 3 tokens per message plus 3 to prime the reply). Tool
schemas and images are not counted: the upstream's ``usage`` corrects the charge afterwards.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import math
import os
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger("railguard.tokens")

_BLOB = "https://openaipublic.blob.core.windows.net/encodings/{}.tiktoken"


@dataclass(frozen=True, slots=True)
class EncodingFile:
    name: str
    sha256: str  # the digest tiktoken itself pins for the file

    @property
    def cache_name(self) -> str:
        """tiktoken's cache file name: the sha1 of the URL it would download from."""
        return hashlib.sha1(_BLOB.format(self.name).encode()).hexdigest()


ENCODING_FILES = {
    f.name: f
    for f in (
        EncodingFile("o200k_base", "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d"),
        EncodingFile("cl100k_base", "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7"),
        EncodingFile("p50k_base", "94b5ca7dff4d00767bc256fdd1b27e5b17361d7b8a5f968547f9f23eb70d2069"),
    )
}
# Encodings built on another's file (o200k_harmony is o200k_base plus special tokens).
_FILE_OF = {"o200k_harmony": "o200k_base"}
APPROXIMATION = "o200k_base"

# Where `railguard tokenizers fetch` puts the files by default: inside the environment Railguard is installed in,
# so an image build or a venv carries them.
DEFAULT_DIR = Path(sys.prefix) / "share" / "railguard" / "tiktoken"

# The PyPI package the files are taken from: litellm ships tiktoken's o200k_base, cl100k_base and p50k_base files
# under their cache names. Only those files are extracted (and sha256-checked); litellm is never installed.
SOURCE_PACKAGE = "litellm==1.109.1"
SOURCE_PATH = "litellm/litellm_core_utils/tokenizers/"

MESSAGE_OVERHEAD = 3  # tokens of framing per chat message (OpenAI's cookbook)
REPLY_PRIMER = 3  # every reply is primed with <|start|>assistant<|message|>
OFF_LOOP_CHARS = 20_000  # longer texts are encoded in a worker thread


def search_dirs(configured: Path | None = None) -> list[Path]:
    dirs = [configured] if configured is not None else []
    if os.environ.get("TIKTOKEN_CACHE_DIR"):
        dirs.append(Path(os.environ["TIKTOKEN_CACHE_DIR"]))
    dirs.append(DEFAULT_DIR)
    return dirs


def find_file(encoding: EncodingFile, dirs: list[Path]) -> Path | None:
    """The first copy of the encoding's file whose sha256 matches (a wrong copy is skipped with a warning)."""
    for directory in dirs:
        path = directory / encoding.cache_name
        if not path.is_file():
            continue
        if hashlib.sha256(path.read_bytes()).hexdigest() == encoding.sha256:
            return path
        log.warning("ignoring %s: sha256 does not match tiktoken's pin for %s", path, encoding.name)
    return None


_env_lock = threading.Lock()


def _load(name: str, directory: Path) -> Any:
    """tiktoken's own constructor for ``name``, reading the verified file from ``directory`` instead of the web."""
    import tiktoken

    # tiktoken looks in TIKTOKEN_CACHE_DIR before any download; point it at the verified copy just for this load
    # (tiktoken keeps the encoding once built, so this happens once per encoding per process).
    with _env_lock:
        previous = os.environ.get("TIKTOKEN_CACHE_DIR")
        os.environ["TIKTOKEN_CACHE_DIR"] = str(directory)
        try:
            return tiktoken.get_encoding(name)
        finally:
            if previous is None:
                del os.environ["TIKTOKEN_CACHE_DIR"]
            else:
                os.environ["TIKTOKEN_CACHE_DIR"] = previous


@functools.lru_cache(maxsize=1024)
def _encoding_name(model: str) -> str | None:
    from tiktoken.model import encoding_name_for_model

    try:
        return encoding_name_for_model(model)
    except KeyError:
        return None


class TokenCounter:
    """Counts tokens per model. Encodings load lazily (or in `warm_up`) and are kept for the process."""

    def __init__(self, dirs: list[Path] | None = None) -> None:
        self.dirs = search_dirs() if dirs is None else dirs
        self._encodings: dict[str, Any] = {}
        self._missing: set[str] = set()
        self._lock = threading.Lock()

    @staticmethod
    def encoding_name(model: str) -> str | None:
        """tiktoken's encoding for an OpenAI model name (None: not an OpenAI model tiktoken knows)."""
        return _encoding_name(model)

    def encoding(self, name: str) -> Any | None:
        found = self._encodings.get(name)
        if found is not None or name in self._missing:
            return found
        with self._lock:
            if name in self._encodings or name in self._missing:
                return self._encodings.get(name)
            source = ENCODING_FILES.get(_FILE_OF.get(name, name))
            path = find_file(source, self.dirs) if source is not None else None
            if path is None:
                self._missing.add(name)
                log.warning(
                    "no offline BPE file for %s (looked in %s); counting approximately. Run `railguard tokenizers "
                    "fetch` ahead of time.",
                    name,
                    ", ".join(str(d) for d in self.dirs),
                )
                return None
            encoding = _load(name, path.parent)
            self._encodings[name] = encoding
            return encoding

    def _encoder_for(self, model: str) -> tuple[Any | None, bool]:
        name = self.encoding_name(model)
        if name is not None:
            encoding = self.encoding(name)
            if encoding is not None:
                return encoding, True
        return self.encoding(APPROXIMATION), False

    def loaded(self, model: str) -> bool:
        """Whether counting for ``model`` is ready without loading anything (a load reads megabytes)."""
        settled = self._encodings.keys() | self._missing
        name = self.encoding_name(model)
        if name is not None and name in self._encodings:
            return True
        return (name is None or name in self._missing) and APPROXIMATION in settled

    def exact(self, model: str) -> bool:
        """Whether counts for ``model`` come from its own tokenizer (else they are approximate)."""
        return self._encoder_for(model)[1]

    def count(self, model: str, text: str) -> int:
        if not text:
            return 0
        encoding, _ = self._encoder_for(model)
        if encoding is None:
            return math.ceil(len(text.encode("utf-8", "surrogatepass")) / 4)
        # Special-token text in a prompt is counted as plain text, as the API treats it.
        return len(encoding.encode_ordinary(text))

    def count_prompt(self, model: str, texts: list[str], messages: int, chat: bool) -> int:
        """Tokens of a request's texts; chat-style requests add the per-message framing."""
        total = sum(self.count(model, text) for text in texts)
        return total + (messages * MESSAGE_OVERHEAD + REPLY_PRIMER if chat else 0)

    def warm_up(self, models: list[str] | None = None) -> None:
        """Load the encodings these models need (and the approximation's), off the request path."""
        for model in models or []:
            self._encoder_for(model)
        self.encoding(APPROXIMATION)


def usage_total(usage: dict[str, Any] | None) -> int | None:
    """Total tokens from an upstream ``usage`` object (chat, completions, embeddings or Responses)."""
    if not isinstance(usage, dict):
        return None
    total = usage.get("total_tokens")
    if isinstance(total, int):
        return total
    parts = [usage.get(k) for k in ("prompt_tokens", "completion_tokens", "input_tokens", "output_tokens")]
    known = [p for p in parts if isinstance(p, int)]
    return sum(known) if known else None


# ---------------------------------------------------------------------------------------------- fetch


def fetch(target: Path = DEFAULT_DIR) -> list[Path]:
    """Fill ``target`` with tiktoken's BPE files, taken from the PyPI package `SOURCE_PACKAGE` through pip (the
    ordinary client: works wherever the package registry is reachable, e.g. an image build). Only the pinned files
    are extracted, each checked against tiktoken's sha256; the package is not installed."""
    import subprocess
    import tempfile
    import zipfile

    target.mkdir(parents=True, exist_ok=True)
    wanted = {f.cache_name: f for f in ENCODING_FILES.values() if find_file(f, [target]) is None}
    if not wanted:
        return sorted(target / f.cache_name for f in ENCODING_FILES.values())
    with tempfile.TemporaryDirectory(prefix="railguard-tokenizers-") as scratch:
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--quiet",
                "--no-deps",
                "--only-binary=:all:",
                "--dest",
                scratch,
                SOURCE_PACKAGE,
            ],
            check=True,
        )
        wheels = list(Path(scratch).glob("*.whl"))
        if len(wheels) != 1:
            raise RuntimeError(f"expected one wheel of {SOURCE_PACKAGE}, found {[w.name for w in wheels]}")
        with zipfile.ZipFile(wheels[0]) as wheel:
            for cache_name, encoding in wanted.items():
                data = wheel.read(SOURCE_PATH + cache_name)
                digest = hashlib.sha256(data).hexdigest()
                if digest != encoding.sha256:
                    raise RuntimeError(f"{encoding.name} from {SOURCE_PACKAGE} has sha256 {digest}, not the pinned one")
                partial = target / (cache_name + ".partial")
                partial.write_bytes(data)
                partial.replace(target / cache_name)
    return sorted(target / f.cache_name for f in ENCODING_FILES.values())
