"""The entity types the PII detector can emit with its built-in recognizers (staff YAML recognizers add more).

Kept as a plain list so policies validate entity names without loading spaCy; a test checks it against the
loaded analyzers."""

ENTITY_TYPES: tuple[str, ...] = (
    "PERSON",
    "LOCATION",
    "ORGANIZATION",
    "NRP",
    "DATE_TIME",
    "TITLE",
    "AGE",
    "ZIP_CODE",
    "EMAIL_ADDRESS",
    "PHONE_NUMBER",
    "CREDIT_CARD",
    "IBAN_CODE",
    "IP_ADDRESS",
    "URL",
    "US_SSN",
    "US_DRIVER_LICENSE",
    "US_PASSPORT",
    "US_BANK_NUMBER",
    "US_ITIN",
    "UK_NHS",
    "MEDICAL_LICENSE",
    "CRYPTO",
    "MAC_ADDRESS",
    "UUID",
)
