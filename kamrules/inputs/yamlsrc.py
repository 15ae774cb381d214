"""YAML loading that remembers where every node came from, and pydantic errors located by it.

ruamel's round-trip loader keeps line and column on every mapping and sequence; `locate` walks a
pydantic error `loc` down the same document, skipping the tags pydantic adds for unions.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError
from ruamel.yaml.comments import CommentedMap, CommentedSeq

from kamrules.errors import Location, Problem
from kamrules.record import Record

MODELS = (BaseModel, Record)  # what a user's YAML is validated into: models and record kinds


def yaml_files(folder: Path) -> list[Path]:
    """The YAML files of a pack's folder (rules/, tests/, translations/, playbooks/...): `.yaml`
    and `.yml` alike, in name order (a rule file named `.yml` was passed over without a word).
    A folder or a FIFO so named is listed too: reading it refuses it, naming it."""
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir()
                  if p.suffix.lower() in (".yaml", ".yml") and not p.name.startswith("."))


def load_yaml(path: Path) -> Any:
    """Parse a YAML file keeping positions, through the input boundary (size, UTF-8, aliases,
    depth, strict scalars); every refusal is a located problem."""
    from kamrules.inputs.boundary import load_yaml_file

    return load_yaml_file(path)


def locate(root: Any, loc: Sequence[int | str], file: str) -> Location:
    """The file:line:column of the deepest node of `loc` that exists in the document."""
    node = root
    line, col = 1, 1
    if isinstance(node, CommentedMap | CommentedSeq) and node.lc.line is not None:
        line, col = node.lc.line + 1, node.lc.col + 1
    for i, key in enumerate(loc):
        if _is_tag(node, key, loc[i + 1:]):
            continue
        if isinstance(node, CommentedMap) and key in node:
            kl, kc = node.lc.key(key)
            line, col = kl + 1, kc + 1
            node = node[key]
        elif isinstance(node, CommentedSeq) and isinstance(key, int) and 0 <= key < len(node):
            il, ic = node.lc.item(key)
            line, col = il + 1, ic + 1
            node = node[key]
        # else: a union tag or a missing key; stay at the parent.
    return Location(file, line, col)


def _is_tag(node: Any, key: int | str, rest: Sequence[int | str]) -> bool:
    """A union tag pydantic put in `loc`: the next step is a key of this same mapping."""
    if not isinstance(node, dict) or isinstance(key, int) or not rest:
        return False
    nxt = rest[0]
    child = node.get(key)
    return nxt in node and not (isinstance(child, dict) and nxt in child)


def dotted(loc: Sequence[int | str], root: Any = None) -> str:
    """`rules[2].when.all[0]`: the error path as a user reads it, union tags left out."""
    out = ""
    node = root
    for i, key in enumerate(loc):
        if root is not None and _is_tag(node, key, loc[i + 1:]):
            continue
        if isinstance(key, int):
            out += f"[{key}]"
            node = node[key] if isinstance(node, list) and 0 <= key < len(node) else None
        elif root is not None and not (isinstance(node, dict) and key in node):
            continue  # a union tag pydantic inserted
        else:
            out += f".{key}" if out else str(key)
            node = node.get(key) if isinstance(node, dict) else None
    return out


def _field_names(model: type[BaseModel | Record]) -> list[str]:
    return sorted(f.alias or name for name, f in model.model_fields.items())


def _model_at(model: type[BaseModel | Record], loc: Sequence[int | str]) -> type[BaseModel | Record] | None:
    """Best effort: the model class that owns the node at loc (for 'valid keys are ...')."""
    from typing import get_args, get_origin

    current: Any = model
    for key in loc:
        if isinstance(key, int):
            continue
        if not (isinstance(current, type) and issubclass(current, MODELS)):
            return None
        field = current.model_fields.get(key)
        if field is None:
            continue
        ann = field.annotation
        candidates = [ann]
        while candidates:
            c = candidates.pop()
            if isinstance(c, type) and issubclass(c, MODELS):
                current = c
                break
            if get_origin(c) is not None or get_args(c):
                candidates.extend(get_args(c))
        else:
            current = None
    return current if isinstance(current, type) and issubclass(current, MODELS) else None


def node_at(root: Any, loc: Sequence[int | str]) -> Any:
    """The document node at a pydantic loc (union tags skipped), or None."""
    node = root
    for i, key in enumerate(loc):
        if _is_tag(node, key, loc[i + 1:]):
            continue
        in_map = isinstance(node, dict) and key in node
        in_seq = isinstance(node, list) and isinstance(key, int) and 0 <= key < len(node)
        if in_map or in_seq:
            node = node[key]
        elif isinstance(node, dict) and isinstance(key, str):
            continue
        else:
            return None
    return node


KeyHint = Callable[[Any], list[str] | None]


def problems_from(
    exc: ValidationError,
    root: Any,
    file: str,
    model: type[BaseModel | Record] | None = None,
    key_hint: KeyHint | None = None,
) -> list[Problem]:
    """Turn every pydantic error into a located, readable problem.

    `key_hint(node)` may name the valid keys of a mapping where the model can't (unions).
    """
    problems = []
    for err in exc.errors(include_url=False):
        loc = err["loc"]
        message = err["msg"]
        # a record kind (a pydantic dataclass) names an unknown key as an unexpected argument
        if err["type"] in ("extra_forbidden", "unexpected_keyword_argument"):
            holder = node_at(root, loc[:-1])
            if not isinstance(holder, dict):  # loc ended in a union tag
                holder = node_at(root, loc[:-2])
            hinted = key_hint(holder) if key_hint else None
            parent = _model_at(model, loc[:-1]) if model and hinted is None else None
            valid = hinted or (_field_names(parent) if parent else [])
            message = f"unknown key {loc[-1]!r}"
            if valid:
                message += f"; valid keys: {', '.join(valid)}"
                close = difflib.get_close_matches(str(loc[-1]), valid, n=1)
                # else what a model knows of the keys written in its place by mistake
                explain = None if close else getattr(parent, "unknown_key_hint", None)
                if close:
                    message += f" (did you mean {close[0]!r}?)"
                elif explain is not None:
                    message += explain(loc)
        elif err["type"] == "missing":
            message = f"missing required key {loc[-1]!r}"
        elif err["type"] == "literal_error":
            message = f"{message}, got {err.get('input')!r}"
        elif message.startswith("Value error, "):
            message = message[len("Value error, "):]
        problems.append(Problem(locate(root, loc, file), dotted(loc, root), message))
    return problems


def closest(word: str, choices: Iterable[str]) -> str:
    """' (did you mean X?)' or '' - for messages about unknown names."""
    match = difflib.get_close_matches(word, list(choices), n=1)
    return f" (did you mean {match[0]!r}?)" if match else ""


def plain(node: Any) -> Any:
    """ruamel containers to plain dicts and lists (for hashing and JSON)."""
    if isinstance(node, dict):
        return {str(k): plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [plain(v) for v in node]
    return node
