"""CLINC150 as a topic task: its 10 domains are the topics, ``oos`` queries are the out-of-scope ones.

Larson et al., "An Evaluation Dataset for Intent Classification and Out-of-Scope Prediction", EMNLP 2019
(CC BY 3.0). The data is read from ``../shared/data/topic/clinc150`` and never shipped.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from detectors.topic.declarations import TopicDeclaration

OUT_OF_SCOPE = "oos"

# One line per domain, written for Railguard from the domain names and their intent names (domains.json); the
# descriptions a trust-and-safety author would write, not text taken from the queries.
DOMAIN_DESCRIPTIONS = {
    "auto_and_commute": "Cars and commuting: traffic, directions, gas, tyres, oil changes, car maintenance, "
    "ride sharing and parking.",
    "banking": "Banking: bank accounts, balances, transfers, transactions, paying bills, interest, routing numbers, "
    "PINs, checks, frozen accounts and fraud.",
    "credit_cards": "Credit cards: card limits, APR, rewards, credit scores, declined, lost or damaged cards, "
    "new card applications and card fees.",
    "home": "Home: shopping lists, to-do lists, reminders, calendar, smart home devices and ordering things for "
    "the house.",
    "kitchen_and_dining": "Kitchen and dining: recipes, ingredients, cooking, nutrition, food storage, restaurants, "
    "reservations and reviews.",
    "meta": "Assistant settings: changing the assistant's name, voice, language, speed or accent, resetting "
    "settings, repeating or cancelling.",
    "small_talk": "Small talk: greetings, jokes, thanks, goodbyes, questions about the assistant itself, its name, "
    "its age and its hobbies.",
    "travel": "Travel: flights, hotels, car rental, luggage, passports and visas, vaccinations, travel alerts, "
    "exchange rates and translation for trips.",
    "utility": "Utilities: time, date, weather, alarms, timers, calculator, measurement conversion, spelling, "
    "definitions, dice and finding a phone.",
    "work": "Work: payroll and direct deposit, paid time off, meetings, schedules, insurance and benefits, taxes "
    "and W-2 forms.",
}


@dataclass(frozen=True)
class Clinc:
    splits: dict[str, list[tuple[str, str]]]  # split -> [(query, intent)]
    domain_of: dict[str, str]  # intent -> domain

    @classmethod
    def load(cls, data_file: Path) -> Clinc:
        with data_file.open(encoding="utf-8") as handle:
            raw = json.load(handle)
        with (data_file.parent / "domains.json").open(encoding="utf-8") as handle:
            domains = json.load(handle)
        splits = {name: [(str(q), str(i)) for q, i in rows] for name, rows in raw.items()}
        return cls(splits, {intent: domain for domain, intents in domains.items() for intent in intents})

    @property
    def domains(self) -> list[str]:
        return sorted(set(self.domain_of.values()))

    def labelled(self, split: str) -> tuple[list[str], list[str]]:
        """Queries of ``split`` plus ``oos_<split>``, with their domain (or "oos")."""
        rows = self.splits[split] + self.splits[f"oos_{split}"]
        return [q for q, _ in rows], [self.domain_of.get(i, OUT_OF_SCOPE) for _, i in rows]

    def chosen_examples(self, per_intent: int, seed: int) -> dict[str, list[str]]:
        """``per_intent`` training queries of every intent, chosen by a seeded shuffle (the first k of the same
        shuffle for every k, so the 3-example set is a subset of the 10-example set)."""
        by_intent: dict[str, list[str]] = {}
        for query, intent in self.splits["train"]:
            by_intent.setdefault(intent, []).append(query)
        rng = np.random.default_rng(seed)
        chosen: dict[str, list[str]] = {}
        for intent in sorted(by_intent):
            queries = sorted(by_intent[intent])
            order = rng.permutation(len(queries))
            chosen[intent] = [queries[i] for i in order[:per_intent]]
        return chosen

    def topics(self, per_intent: int, seed: int) -> list[TopicDeclaration]:
        """One topic per domain: its description plus the chosen examples of its 15 intents."""
        examples = self.chosen_examples(per_intent, seed)
        return [
            TopicDeclaration(
                name=domain,
                description=DOMAIN_DESCRIPTIONS[domain],
                examples=tuple(
                    q for intent in sorted(examples) if self.domain_of[intent] == domain for q in examples[intent]
                ),
            )
            for domain in self.domains
        ]
