"""PII detection with Presidio and spaCy.

Presidio's e-mail recognizer validates domains with tldextract, whose default extractor is built at import time and
would fetch the public suffix list over the network: switch that off before anything imports it (an operator may
still point it at local files through the same variable)."""

import os

os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")
