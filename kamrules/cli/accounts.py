"""Finding an account the way a person names it: id or name, any case, a unique prefix."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

from kamrules.errors import KamError


def find_account(accounts: Iterable[tuple[str, str]], query: str) -> tuple[str, str]:
    """(id, name) of the account `query` names: its id or exact name (case-insensitive), else
    the one account whose name starts with it; otherwise an error with the nearest names."""
    pairs = list(accounts)
    wanted = query.strip().casefold()
    for exact in (lambda i, n: i.casefold() == wanted, lambda i, n: n.casefold() == wanted):
        hits = [(i, n) for i, n in pairs if exact(i, n)]
        if len(hits) == 1:
            return hits[0]
    prefixed = [(i, n) for i, n in pairs if n.casefold().startswith(wanted)] if wanted else []
    if len(prefixed) == 1:
        return prefixed[0]
    if prefixed:
        listed = ", ".join(f"{n} ({i})" for i, n in sorted(prefixed, key=lambda p: p[1])[:8])
        more = f" and {len(prefixed) - 8} more" if len(prefixed) > 8 else ""
        raise KamError(f"{query!r} matches {len(prefixed)} accounts: {listed}{more};"
                       " give more of the name or the id")
    by_name = {n.casefold(): (i, n) for i, n in pairs}
    near = difflib.get_close_matches(wanted, list(by_name), n=3, cutoff=0.6)
    hint = ("; did you mean " + " or ".join(f"{by_name[k][1]!r} ({by_name[k][0]})" for k in near)
            + "?") if near else ""
    raise KamError(f"no account with id or name {query!r}{hint}")
