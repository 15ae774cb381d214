"""What a deal sells: something new (a new product, application or upsell) or the same again.

P10 asks when we last offered something new; a repeat order is not. A CRM that records the
deal's kind says so; where it does not, an upsell counts as new, a renewal does not, and a deal
typed "new" counts unless its name reads as a repeat order.
"""

from __future__ import annotations

import re

from kamrules.model import Deal

SOMETHING_NEW = frozenset({"new_product", "new_application", "upsell"})
# Names of repeat orders in the languages of the sources (English, Russian, Serbian).
REPEAT_WORDS = re.compile(
    r"\b(re-?order|repeat|replenish\w*|call-?off|refill|top-?up|"
    r"повторн\w*|дозаказ\w*|пополнени\w*|"
    r"ponovljen\w*|ponovn\w*|dopun\w*|поновљен\w*|поновн\w*|допун\w*)\b",
    re.IGNORECASE,
)


def deal_kind(deal: Deal) -> str:
    """The deal's kind as recorded, else inferred from its type and name."""
    if deal.kind is not None:
        return deal.kind
    if deal.type == "renewal":
        return "renewal"
    if deal.type == "upsell":
        return "upsell"
    return "reorder" if REPEAT_WORDS.search(deal.name or "") else "new_product"


def offers_something_new(deal: Deal) -> bool:
    return deal_kind(deal) in SOMETHING_NEW
