"""YAML loading that remembers the line of every key, so errors can say file:line."""

from __future__ import annotations

from typing import Any

import yaml

Path_ = tuple[str | int, ...]


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys (a silent override is a policy bug)."""


def load_with_lines(text: str) -> tuple[Any, dict[Path_, int]]:
    """Parse YAML and return (data, {path: 1-based line}); raises yaml.YAMLError."""
    loader = _UniqueKeyLoader(text)
    try:
        node = loader.get_single_node()
        lines: dict[Path_, int] = {}
        data = _build(node, (), lines, loader) if node is not None else None
    finally:
        loader.dispose()
    return data, lines


class DuplicateKeyError(yaml.YAMLError):
    def __init__(self, key: str, line: int, first: int) -> None:
        self.key, self.line, self.first = key, line, first
        super().__init__(f"duplicate key '{key}' (first defined at line {first})")


def _build(node: yaml.Node, path: Path_, lines: dict[Path_, int], loader: yaml.SafeLoader) -> Any:
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
            out[key] = _build(value_node, child, lines, loader)
            lines[child] = key_node.start_mark.line + 1
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_build(v, path + (i,), lines, loader) for i, v in enumerate(node.value)]
    return loader.construct_object(node, deep=True)
