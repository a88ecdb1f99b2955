import threading
from pathlib import Path

import numpy as np
import pytest

from detectors.base import ModelUnavailableError
from detectors.models import EmbeddingCache, ModelRuntime, ModelSource, ModelSpec
from detectors.models.catalog import all_specs, status
from detectors.models.encoder import MINILM


def test_runtime_loads_each_model_once_under_concurrency() -> None:
    runtime = ModelRuntime(workers=2)
    calls = []

    def loader() -> object:
        calls.append(1)
        return object()

    results = []
    threads = [threading.Thread(target=lambda: results.append(runtime.get("m", loader))) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(calls) == 1
    assert all(r is results[0] for r in results)


def test_spec_refuses_weights_with_the_wrong_digest(tmp_path: Path) -> None:
    (tmp_path / "weights.bin").write_bytes(b"not the weights")
    spec = ModelSpec("x", "test", ModelSource.LOCAL, str(tmp_path), sha256={"weights.bin": "0" * 64})
    with pytest.raises(ModelUnavailableError, match="sha256"):
        spec.verify()


def test_hub_model_that_was_not_pulled_is_unavailable_not_downloaded(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("RAILGUARD_MODELS_DIR", str(tmp_path))
    spec = ModelSpec("hubby", "test", ModelSource.HUB, "org/model", revision="abc")
    with pytest.raises(ModelUnavailableError, match="railguard models pull"):
        spec.local_dir()
    assert status(spec) == "missing"
    assert not any(tmp_path.iterdir())


def test_packaged_encoder_is_present_and_pinned() -> None:
    assert status(MINILM) == "present"
    assert "all-minilm-l6-v2" in all_specs()


def test_embedding_cache_embeds_each_text_once() -> None:
    cache = EmbeddingCache()
    first = cache.embed(["card declined", "reset my password", "card declined"])
    assert first.shape == (3, 384)
    assert cache.computed == 2
    again = cache.embed_one("card declined")
    assert cache.computed == 2
    np.testing.assert_allclose(np.linalg.norm(first, axis=1), 1.0, rtol=1e-4)
    np.testing.assert_array_equal(again, first[0])
    # Paraphrases land closer than unrelated text: a real encoder, not a stub.
    para = cache.embed(["my card was declined at the shop", "what is the capital of france"])
    assert float(first[0] @ para[0]) > float(first[0] @ para[1]) + 0.2
