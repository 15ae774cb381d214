"""The facts durable_rules reads are written by pydantic-core's encoder (engine_durable's
`_assert`): for every value a fact can hold, once `engine_value` has brought its numbers into
the range durable_rules reads, exactly the text `json.dumps` writes, compact (no exponents,
the same shortest digits, the same escapes), in a third of the time."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic_core import to_json

from kamrules.evaluation.durable_json import engine_value

# a CRM's text decodes to valid Unicode: no lone surrogates
TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)
SCALARS = st.one_of(st.booleans(), st.integers(), st.floats(), TEXT)
VALUES = st.one_of(SCALARS, st.lists(SCALARS, max_size=4))


@settings(max_examples=3000)
@given(st.dictionaries(TEXT, VALUES, max_size=10), st.integers(min_value=0))
def test_a_message_is_the_text_json_dumps_writes(facts: dict, n: int) -> None:
    message = {k: engine_value(v) for k, v in facts.items()}
    message = {k: v for k, v in message.items() if v is not None}
    message["id"], message["kamrules_anchor"] = f"a{n}", 1
    text = to_json(message).decode()
    assert text == json.dumps(message, ensure_ascii=False, separators=(",", ":"))


@settings(max_examples=3000)
@given(st.floats(allow_nan=False, allow_infinity=False))
def test_numbers_have_no_exponent_once_in_range(x: float) -> None:
    value = engine_value(x)
    text = to_json(value).decode()
    assert text == json.dumps(value)
    assert "e" not in text.lower()
