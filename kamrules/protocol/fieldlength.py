"""Text lengths as the CRMs count them against a field's length: in UTF-16 code units.

Salesforce (and HubSpot, both on the JVM) count a character outside the Basic Multilingual
Plane, an emoji or a rare CJK ideograph, as two ("Surrogate Pair Characters Are Treated as Two
Characters", Salesforce Help 005166849). A text cut to 255 Python characters could be up to 510
of theirs: Salesforce refused it (STRING_TOO_LONG) at every run, and the task was never written
or never closed. Counting so is never too long for a CRM that counts characters instead.
"""

from __future__ import annotations


def units(text: str) -> int:
    """`text`'s length in UTF-16 code units."""
    if text.isascii():
        return len(text)
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def fit(text: str, limit: int) -> str:
    """`text` cut to at most `limit` UTF-16 code units, never between the two halves of a
    character."""
    if len(text) <= limit // 2 or units(text) <= limit:
        return text
    return text.encode("utf-16-le", "surrogatepass")[:2 * max(0, limit)].decode("utf-16-le", "ignore")
