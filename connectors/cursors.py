"""Paging cursors met in one listing of a CRM: paging that would never end is a CRM failure.

A cursor met twice is paging in a loop (it ran until memory ran out). Fresh cursors to empty
pages never repeat: a real CRM may send a page with no records but a next cursor now and then,
never EMPTY_IN_A_ROW of them in a row, so that many is a broken server or proxy.
"""

from __future__ import annotations

EMPTY_IN_A_ROW = 20


class Cursors:
    """The cursors of one listing, and how many pages in a row came without records."""

    def __init__(self) -> None:
        self.seen: set[str] = set()
        self.empty = 0

    def follow(self, cursor: str, records: int) -> str | None:
        """Why following `cursor` (the next page's, after a page of `records`) would page
        without end, or None."""
        if cursor in self.seen:
            return f"{cursor[:120]} twice: its paging goes round in a loop"
        self.seen.add(cursor)
        self.empty = 0 if records else self.empty + 1
        if self.empty >= EMPTY_IN_A_ROW:
            return (f"{self.empty} pages in a row without records, each with a new cursor (the"
                    f" last {cursor[:80]}): its paging would never end")
        return None
