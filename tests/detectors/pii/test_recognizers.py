"""Our general recognizers and the overlap resolution, on sentences written for these tests."""

from __future__ import annotations

import pytest

from detectors.pii.recognizers import luhn_valid
from detectors.pii.resolve import Found, is_specific_time, resolve


def test_a_postal_address_is_one_location_from_street_to_country(find) -> None:
    text = "Please ship it to 221 Baker Street, London, NW1 6XE, United Kingdom. Thanks!"
    assert ("LOCATION", "221 Baker Street, London, NW1 6XE, United Kingdom") in find(text)


@pytest.mark.parametrize(
    ("text", "street"),
    [
        ("The parcel went to Hauptstraße 5 in the morning.", "Hauptstraße 5"),
        ("Our office: Via Garibaldi 12, Torino", "Via Garibaldi 12, Torino"),
        ("She lives at ul. Długa 7 now", "ul. Długa 7"),
        ("Mail it to P.O. Box 4411 before Friday.", "P.O. Box 4411"),
        ("Ship to PSC 1234, Box 5678\nAPO AE 09123 by air", "PSC 1234, Box 5678\nAPO AE 09123"),
    ],
)
def test_street_lines_in_several_conventions(find, text: str, street: str) -> None:
    assert ("LOCATION", street) in find(text)


def test_a_sentence_after_an_address_is_not_part_of_it(find) -> None:
    found = find("I live at 12 Main Street. It is a quiet place.")
    assert ("LOCATION", "12 Main Street.") in found or ("LOCATION", "12 Main Street") in found


def test_age_is_the_number_only(find) -> None:
    assert ("AGE", "87") in find("My grandmother is 87 years old and still drives.")
    assert ("AGE", "42") in find("The patient, a 42-year-old man, reported chest pain.")
    assert not [f for f in find("I have 8+ years of experience in sales.") if f[0] == "AGE"]


def test_card_numbers_need_the_checksum(find) -> None:
    assert luhn_valid("4111111111111111") and not luhn_valid("4111111111111112")
    assert ("CREDIT_CARD", "213176828496175") in find("Block my card 213176828496175 please")  # old JCB, 15 digits
    assert not [f for f in find("Block my card 213176828496176 please") if f[0] == "CREDIT_CARD"]


def test_short_national_phone_numbers_need_a_phone_word(find) -> None:
    assert ("PHONE_NUMBER", "467 3395") in find("Call me on 467 3395 tonight")
    assert ("PHONE_NUMBER", "416 60 039") in find("416 60 039 office\n")
    assert not [f for f in find("Order 467 3395 has shipped") if f[0] == "PHONE_NUMBER"]


def test_titles_from_honorifics_and_contact_cards(find) -> None:
    assert ("TITLE", "Dr.") in find("Dr. Keller will see you now.")
    card = "Karin Beike\nLeasing consultant\nNorthwind Traders\n+1 415 555 0132"
    assert ("TITLE", "Leasing consultant") in find(card)
    assert ("TITLE", "Rolling machine operator") in find("I worked for Contoso as Rolling machine operator, then quit.")


def test_a_legal_form_makes_an_organisation_even_before_a_speech_verb(find) -> None:
    found = find("A spokesperson of Acme Holdings Ltd said nothing.")
    assert ("ORGANIZATION", "Acme Holdings Ltd") in found


def test_nationality_after_i_am_is_not_a_place(find) -> None:
    assert not [f for f in find("I am Norwegian and proud of it.") if f[0] == "LOCATION"]


def test_vague_times_are_not_reported_but_dates_are(find) -> None:
    assert not [f for f in find("Let's talk next week, maybe this morning.") if f[0] == "DATE_TIME"]
    assert ("DATE_TIME", "12/03/2021") in find("The transfer on 12/03/2021 failed.")
    assert is_specific_time("1977") and is_specific_time("Thursday") and not is_specific_time("the 70s")
    assert not is_specific_time("35018")  # a postcode spaCy calls a date


def test_pii_names_are_not_organisations(find) -> None:
    assert not [f for f in find("Here's my SSN: 536-90-4399") if f[0] == "ORGANIZATION"]


def test_resolution_prefers_validated_over_rules_over_ner() -> None:
    text = "x" * 40
    found = [
        Found("PERSON", 0, 10, 0.85, "SpacyRecognizer"),
        Found("LOCATION", 5, 20, 0.6, "StreetAddressRecognizer"),
        Found("EMAIL_ADDRESS", 18, 30, 0.5, "EmailRecognizer"),
        Found("DATE_TIME", 32, 36, 0.85, "SpacyRecognizer"),
    ]
    kept = resolve(text, found)
    # The e-mail address (validated) beats the address rule; the address rule, gone, no longer hides the NER name.
    assert [(f.entity_type, f.start, f.end) for f in kept] == [("PERSON", 0, 10), ("EMAIL_ADDRESS", 18, 30)]


def test_staff_declared_recognizers_win_every_overlap() -> None:
    found = [Found("PHONE_NUMBER", 0, 10, 0.95, "PhoneNumberRecognizer"), Found("ACCOUNT", 0, 10, 0.5, "accounts")]
    assert [f.entity_type for f in resolve("0123456789", found, frozenset({"accounts"}))] == ["ACCOUNT"]
