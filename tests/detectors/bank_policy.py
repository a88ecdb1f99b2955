"""A bank-support topic set as a trust-and-safety author would declare it (accounts and cards are what the assistant
is for; poems and medical advice are what it should refuse). Shared by the topic and intent tests."""

from __future__ import annotations

from typing import Any

ACCOUNTS: dict[str, Any] = {
    "name": "accounts",
    "description": "Bank accounts: opening and closing accounts, balances, statements, transfers, interest and fees.",
    "examples": [
        "how do I open a checking account",
        "what's my current balance",
        "can I get a copy of last month's statement",
        "how do I transfer money between my accounts",
        "what are the monthly fees on a savings account",
        "I want to close my account",
        "how do I set up a joint account with my partner",
        "what interest rate does my savings account pay",
        "I can't log in to online banking",
        "how do I set up a standing order",
    ],
}
CARDS: dict[str, Any] = {
    "name": "cards",
    "description": "Debit and credit cards: lost or stolen cards, declined payments, limits, PINs and new cards.",
    "examples": [
        "I lost my debit card",
        "why was my card declined",
        "how do I change my PIN",
        "can you raise my credit card limit",
        "when will my new card arrive",
        "freeze my card please",
        "someone stole my credit card",
        "can I use my card abroad",
        "what's the interest rate on my credit card",
    ],
}
POEMS: dict[str, Any] = {
    "name": "poems",
    "description": "Creative writing: poems, song lyrics, stories and jokes.",
    "examples": [
        "write me a poem about autumn",
        "compose a sonnet for my girlfriend",
        "can you write song lyrics about the sea",
        "tell me a story about a dragon",
        "write a haiku",
        "make up a limerick about my dog",
    ],
}
MEDICAL: dict[str, Any] = {
    "name": "medical_advice",
    "description": "Medical questions: symptoms, illnesses, medication and dosage, treatment.",
    "examples": [
        "what medicine should I take for a headache",
        "is this rash serious",
        "how much ibuprofen can I take",
        "do I need antibiotics for a sore throat",
        "what are the symptoms of the flu",
        "my chest hurts, what should I do",
    ],
}
BANK_TOPICS = [ACCOUNTS, CARDS, POEMS, MEDICAL]
