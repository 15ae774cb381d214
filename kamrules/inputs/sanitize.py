"""Text from a CRM made safe for a terminal, a task, a CSV/TSV cell or a JSON line.

An account name is written by anyone with CRM access: escape sequences (ANSI CSI, OSC, the
8-bit C1 forms), other control characters and bidi overrides would recolour or retitle the
admin's terminal, hide text, or reorder it. A cell that starts with `=`, `+`, `-`, `@` is run as
a formula by spreadsheets.
"""

from __future__ import annotations

import re

# Whole sequences: CSI (ESC [ or 0x9b) up to its final byte; OSC (ESC ] or 0x9d) and the string
# controls DCS/SOS/PM/APC up to their terminator (BEL, ESC \\ or 0x9c); any other ESC + one byte.
# An unterminated string control loses only its introducer: the text after it stays.
_SEQUENCES = re.compile(
    r"(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]"
    r"|(?:\x1b\]|\x9d)[^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)"
    r"|(?:\x1b[PX^_]|[\x90\x98\x9e\x9f])[^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)"
    r"|(?:\x1b\]|\x9d)\d*;?"
    r"|\x1b[ -~]?"
)
# C0 controls but tab and newline, DEL, C1 controls, bidi embeddings/overrides/isolates.
_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_LINE_BREAKS = re.compile(r"[\t\n\r\x0b\x0c\u2028\u2029]+")
_JSON_RISKY = re.compile(r"[\x7f-\x9f\u202a-\u202e\u2066-\u2069\u2028\u2029]")
# the same characters in UTF-8: each match starts at an ASCII or lead byte, never inside a
# character, so in valid UTF-8 it is always one whole character
_JSON_RISKY_UTF8 = re.compile(rb"\x7f|\xc2[\x80-\x9f]|\xe2\x80[\xa8-\xae]|\xe2\x81[\xa6-\xa9]")
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# half of a UTF-16 pair: what a "\ud800" escape or a byte that is not UTF-8 (argv, surrogateescape)
# decodes to in Python; no encoder, SQLite or durable_rules accepts it
SURROGATES = re.compile("[\ud800-\udfff]")


def terminal_safe(text: str, keep_newlines: bool = True) -> str:
    """`text` without escape sequences, control characters (but tab and newline) or bidi
    overrides; with keep_newlines=False, line breaks and tabs become one space."""
    if text.isprintable() and "\x1b" not in text:
        return text  # the common case, fast
    if _CONTROLS.search(text) is None:  # tabs and line breaks but no control (a task's body)
        return text if keep_newlines else _LINE_BREAKS.sub(" ", text)
    text = _CONTROLS.sub("", _SEQUENCES.sub("", text.replace("\r\n", "\n")))
    return text if keep_newlines else _LINE_BREAKS.sub(" ", text)


# A message shows a run of more characters than this without a space (a value pasted on the
# command line, a line of a file) by its start and end: a path that long is already rare.
LONG_RUN = 1000
_LONG_RUNS = re.compile(rf"\S{{{LONG_RUN + 1},}}")
CLIP_HEAD, CLIP_TAIL = 200, 80
LONG_MESSAGE = 10 * LONG_RUN  # and a whole message, with spaces, by its first and last parts


def clipped(text: str) -> str:
    """A message with each run of over LONG_RUN characters without a space shown by its first
    CLIP_HEAD and last CLIP_TAIL characters and how many were left out between them (a
    100,000-character argument echoed whole buried the message), then the message itself
    past LONG_MESSAGE characters the same way."""
    if len(text) <= LONG_RUN:
        return text
    text = _LONG_RUNS.sub(lambda m: _middle_out(m[0], CLIP_HEAD, CLIP_TAIL), text)
    return text if len(text) <= LONG_MESSAGE else _middle_out(text, LONG_MESSAGE - 2 * LONG_RUN, LONG_RUN)


def _middle_out(text: str, head: int, tail: int) -> str:
    return f"{text[:head]}...({len(text) - head - tail:,} characters not shown)...{text[-tail:]}"


def one_line(text: str) -> str:
    """Safe text on one line: for table cells and TSV fields."""
    return terminal_safe(text, keep_newlines=False)


def formula_safe(text: str) -> str:
    """A cell a spreadsheet will not run: a leading formula character is quoted with `'`."""
    return "'" + text if text.startswith(FORMULA_START) else text


def cell(text: str) -> str:
    """One TSV/CSV cell of CRM text: one line, no controls, no formula."""
    return formula_safe(one_line(text))


def json_safe_bytes(data: bytes) -> bytes:
    """`json_safe` for JSON as UTF-8 bytes (pydantic's `to_json`): the same escapes, without
    decoding it."""
    return _JSON_RISKY_UTF8.sub(lambda m: f"\\u{ord(m.group().decode()):04x}".encode(), data)


def json_safe(text: str) -> str:
    """JSON text with the characters a terminal may act on written as \\u escapes (the same
    JSON value; pydantic and json.dumps(ensure_ascii=False) leave them raw)."""
    return _JSON_RISKY.sub(lambda m: f"\\u{ord(m.group()):04x}", text)
