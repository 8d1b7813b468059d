"""Strict YAML reading: PyYAML's safe loader that refuses duplicate keys and too deep a nesting.

YAML lets the last of two equal keys win silently (a second ``train:`` section would replace the first), and
PyYAML's composer recurses once per nesting level (a 50,000-deep list ends in a RecursionError). ``Loader``
refuses both with a ``Refused`` error that carries the line and column; ``yaml_problem`` turns any PyYAML
error into one line. It also reads ``1e-3`` as a float (YAML 1.1 makes it a string).
"""
from __future__ import annotations

import re

import yaml

from engine.schema import MAX_DEPTH
from engine.typecheck import short


class Refused(yaml.MarkedYAMLError):
    """A YAML document this loader refuses (a duplicate key, too deep a nesting), with the line it is at."""


class Loader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing duplicate keys (YAML would let the last one silently win: a second
    ``train:`` section replacing the first) and nesting deeper than MAX_DEPTH (the composer recurses, so a
    50,000-deep list would end in a RecursionError)."""

    def compose_node(self, parent, index):
        self._depth = getattr(self, "_depth", 0) + 1
        try:
            if self._depth > MAX_DEPTH:
                raise Refused(None, None, f"nested more than {MAX_DEPTH} levels deep",
                              self.peek_event().start_mark)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            seen: dict = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":  # "<<: *base" merges; explicit keys may override
                    continue
                key = self.construct_object(key_node, deep=True)
                try:
                    first = seen.get(key)
                except TypeError:  # an unhashable key: PyYAML's own error follows
                    continue
                if first is not None:
                    raise Refused(None, None, f"duplicate key {short(key, 40)} (first at line {first})",
                                  key_node.start_mark)
                seen[key] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep)


# PyYAML follows YAML 1.1, where "1e-3" is a string; accept it as a float like every other tool does.
Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:\d+\.?\d*|\.\d+)[eE][-+]?\d+$"),
    list("-+0123456789."),
)


def yaml_problem(e: yaml.YAMLError) -> str:
    """One line from a PyYAML error: where (line, column) and what."""
    mark = getattr(e, "problem_mark", None)
    problem = getattr(e, "problem", None) or getattr(e, "reason", None) or type(e).__name__
    if isinstance(e, yaml.reader.ReaderError):  # a control character: PyYAML gives a character offset
        char = chr(e.character) if isinstance(e.character, int) else e.character
        problem = f"character {char!r} at position {e.position} ({e.reason})"
    where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
    return where + " ".join(str(problem).split())
