"""YAML loading that remembers the line of every key, so errors can say file:line."""

from __future__ import annotations

from typing import Any

import yaml

Path_ = tuple[str | int, ...]

#: Bounds on what a policy file may make the loader build: a "billion laughs" file (aliases of
#: aliases) would otherwise expand exponentially, a self-referencing anchor forever.
MAX_BYTES = 4 << 20
MAX_DEPTH = 64
MAX_NODES = 200_000


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys (a silent override is a policy bug)."""


class LimitError(yaml.MarkedYAMLError):
    """The file is too large, too deep or expands to too much (bounded parsing)."""

    def __init__(self, problem: str, mark: yaml.Mark | None = None) -> None:
        super().__init__(problem=problem, problem_mark=mark)


def load_with_lines(text: str) -> tuple[Any, dict[Path_, int]]:
    """Parse YAML and return (data, {path: 1-based line}); raises yaml.YAMLError (a
    `LimitError` past `MAX_BYTES`, `MAX_DEPTH` levels or `MAX_NODES` values after aliases)."""
    if len(text) > MAX_BYTES:
        raise LimitError(f"the file is larger than {MAX_BYTES >> 20} MB")
    loader = _UniqueKeyLoader(text)
    try:
        try:
            node = loader.get_single_node()
        except RecursionError:
            raise LimitError(f"nested more than {MAX_DEPTH} levels deep",
                             loader.get_mark()) from None
        lines: dict[Path_, int] = {}
        budget = [MAX_NODES]
        data = _build(node, (), lines, loader, budget) if node is not None else None
    finally:
        loader.dispose()
    return data, lines


class DuplicateKeyError(yaml.YAMLError):
    def __init__(self, key: str, line: int, first: int) -> None:
        self.key, self.line, self.first = key, line, first
        super().__init__(f"duplicate key '{key}' (first defined at line {first})")


def _build(node: yaml.Node, path: Path_, lines: dict[Path_, int], loader: yaml.SafeLoader,
           budget: list[int]) -> Any:
    budget[0] -= 1
    if budget[0] < 0:
        raise LimitError(f"expands to more than {MAX_NODES:,} values (aliases of aliases?)",
                         node.start_mark)
    if len(path) > MAX_DEPTH:
        raise LimitError(f"nested more than {MAX_DEPTH} levels deep (or an anchor that "
                         "refers to itself)", node.start_mark)
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        loader.flatten_mapping(node)
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            key = str(key) if not isinstance(key, str) else key
            if key in out:
                raise DuplicateKeyError(key, key_node.start_mark.line + 1, lines[path + (key,)])
            child = path + (key,)
            out[key] = _build(value_node, child, lines, loader, budget)
            lines[child] = key_node.start_mark.line + 1
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_build(v, path + (i,), lines, loader, budget) for i, v in enumerate(node.value)]
    return loader.construct_object(node, deep=True)
