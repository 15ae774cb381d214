"""A CRM's answers as JSON whose text is Unicode, for both CRM connectors.

JSON may carry half a UTF-16 pair (`"\\ud800"`): Salesforce and HubSpot return what their users
pasted, and Python's `json` decodes it into a string no encoder, SQLite or durable_rules accepts.
Bytes that are not UTF-8 would do the same through `json`'s surrogatepass. Each such character
becomes U+FFFD and is counted, so a run says how many it met instead of failing on a name.
"""

from __future__ import annotations

import json
import re
from typing import Any

from kamrules.inputs.sanitize import SURROGATES

REPLACEMENT = "\ufffd"
_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")  # may also match an escaped backslash: only slower


class BadJson(ValueError):
    """An answer that is not JSON (or nests past what a parser can walk)."""


class CrmJson:
    """Decodes a connector's answers; `replaced` counts the characters made U+FFFD so far."""

    def __init__(self) -> None:
        self.replaced = 0

    def loads(self, data: bytes | str) -> Any:
        """The JSON value of an answer, its text cleaned; BadJson when it is not JSON."""
        text = data if isinstance(data, str) else data.decode(
            json.detect_encoding(data), "surrogateescape")  # a byte not UTF-8: U+DC80..U+DCFF
        try:
            value = json.loads(text)
        except RecursionError:
            raise BadJson("nested too deeply to read") from None
        except ValueError as exc:
            raise BadJson(str(exc)) from None
        if _ESCAPE.search(text) or SURROGATES.search(text):
            value = self._cleaned(value)
        return value

    def text(self, data: bytes) -> str:
        """An answer's bytes as text (an error's body, a CSV page), cleaned the same way."""
        return self._clean(data.decode("utf-8", "surrogateescape"))

    def _clean(self, text: str) -> str:
        cleaned, count = SURROGATES.subn(REPLACEMENT, text)
        self.replaced += count
        return cleaned

    def _cleaned(self, value: Any) -> Any:
        """`value` with every string (keys too) cleaned; iterative, as deep as json went."""
        if isinstance(value, str):
            return self._clean(value)
        root: list[Any] = [value]
        stack: list[Any] = [root]
        while stack:
            node = stack.pop()
            items = list(node.items()) if isinstance(node, dict) else list(enumerate(node))
            for key, item in items:
                if isinstance(item, str):
                    node[key] = self._clean(item)
                elif isinstance(item, dict | list):
                    stack.append(item)
                if isinstance(key, str) and SURROGATES.search(key):
                    node[self._clean(key)] = node.pop(key)
        return root[0]

    def warning(self, crm: str) -> str | None:
        """The run's warning about replaced characters, or None when there were none."""
        if not self.replaced:
            return None
        return (f"{self.replaced:,} character(s) in {crm}'s answers were not Unicode (half of a"
                " UTF-16 pair, or bytes that are not UTF-8): each is shown as U+FFFD; the records"
                " are kept")
