"""A Python file's statements, found without parsing it, so a check parses only what it reads.

Turning source into Python's syntax tree costs more than ruff's whole run
over the same file (bench/RESULTS.md), and the security checks look at a few
statements of a file at most. So the file is cut where a statement must
start, and only the pieces holding a word a check looks for are parsed:

- at the top level, every line that starts in column 0 with code (not a
  comment, not a closing bracket, not `else`/`elif`/`except`/`finally`,
  which continue the statement above; decorators stay with what they
  decorate);
- inside a large top-level statement (a class, a long function), every
  `def`, `class` or decorator line at the indentation of its body (the
  shallowest such line, when no line of code sits left of it): these cannot
  stand inside brackets, so the cut is sound.

A line inside a triple-quoted string is never a cut (an odd number of the
same quotes before it). What the cutting gets wrong (a column-0 line inside
brackets, a tripled quote in a comment) makes a piece that does not parse,
and the caller then parses the whole file: slower, never wrong.
"""

from __future__ import annotations

import ast
import bisect
import itertools
import re
import warnings
from dataclasses import dataclass

import re2

# What the parser says of the code it reads (an invalid escape, `is` with a literal) is
# for the author, not the worker's log: every submission would print it again.
warnings.filterwarnings("ignore", category=SyntaxWarning, module="<unknown>")
warnings.filterwarnings("ignore", category=DeprecationWarning, module="<unknown>")

# A top-level statement's first line: code in column 0, not a continuation of the last one.
# Both patterns match from the newline before the line (the first line is the caller's):
# `re` then looks for that one character, where `^` has it try every position (4x slower).
TOP_LEVEL = re.compile(r"\n(?!(?:else|elif|except|finally)\b)[^\s#)\]}]")
# Python's `re`, not RE2: a class has a match per method, and RE2's wrapper costs per match.
NESTED_DEFINITION = re.compile(r"\n([ \t]+)(?:(?:async[ \t]+def|def|class)[ \t]|(@))")
DOUBLE_TRIPLE = re.compile('"""')
SINGLE_TRIPLE = re.compile("'''")
# Smaller top-level statements are parsed whole: a cut saves less than it costs.
SPLIT_FROM_CHARS = 2_000
# A piece on a later line is parsed alone and its lines moved after (a walk of its tree).
PAD_UP_TO_LINES = 5_000


def as_ascii(code: str) -> bytes:
    """The code as RE2 reads it fastest: ASCII bytes, any other character a "?" (every
    word looked for is ASCII, and each character keeps its offset)."""
    return code.encode() if code.isascii() else code.encode("ascii", errors="replace")


@dataclass(frozen=True, slots=True)
class Statement:
    """Characters `start` to `end` of the file: whole statements at one indentation."""

    start: int
    end: int
    indent: str = ""  # "" at the top level
    body_cut_at: str | None = None  # a header whose body went to the next pieces: its indent
    dict_entries: bool = False  # one line of a dict's entries, read as a dict of its own


class Statements:
    """The file's top-level statements, a large one cut into its definitions when asked."""

    def __init__(self, code: str, text: bytes | None = None) -> None:
        """`text`: the code `as_ascii`, where the caller has it already."""
        self.code = code
        # Where each tripled quote is: a line after an odd count of either is in a string.
        self._double = [match.start() for match in DOUBLE_TRIPLE.finditer(code)]
        self._single = [match.start() for match in SINGLE_TRIPLE.finditer(code)]
        self._bounds = [0, *self._top_level_starts(), len(code)]
        self._last_line = 0, 1  # a position and its line, where counting lines goes on
        self._text = text
        # A large top-level statement's pieces and where each starts, by the statement's index.
        self._nested: dict[int, tuple[list[Statement], list[int]]] = {}

    def containing(self, position: int) -> Statement:
        index = bisect.bisect_right(self._bounds, position, hi=len(self._bounds) - 1) - 1
        start, end = self._bounds[index], self._bounds[index + 1]
        if end - start < SPLIT_FROM_CHARS:
            return Statement(start, end)
        if index not in self._nested:
            pieces = self._cut_nested(start, end)
            self._nested[index] = pieces, [piece.start for piece in pieces]
        pieces, starts = self._nested[index]
        return pieces[bisect.bisect_right(starts, position) - 1]

    def parse(self, piece: Statement) -> ast.Module:
        """The piece's tree, its lines and columns those of the whole file.

        Raises SyntaxError where the cut was wrong (or the file does not parse).
        """
        text = self.code[piece.start : piece.end]
        if piece.dict_entries:  # `    "key": "value",` -> `   {"key": "value"}`, columns kept
            indent = len(text) - len(text.lstrip())
            text = " " * (indent - 1) + "{" + text.strip().removesuffix(",") + "}"
        if piece.body_cut_at is not None:  # a header whose body was cut off: give it one
            text = f"{text.rstrip()}\n{piece.body_cut_at}pass\n"
        if piece.indent:  # an indented block parses under any header: `if 1:` costs nothing
            text = "if 1:\n" + text
        lines_before = self._line_of(piece.start) - (2 if piece.indent else 1)
        if lines_before <= PAD_UP_TO_LINES:  # blank lines cost the parser next to nothing
            return ast.parse("\n" * lines_before + text)
        # Far down a file, padding each piece would make many pieces cost the square.
        return ast.increment_lineno(ast.parse(text), lines_before)

    def dict_entries_at(self, position: int) -> Statement | None:
        """The line that starts at `position` (after its indent) when it is whole dict entries.

        A huge dict (a table of thousands of entries) is one statement: parsing it
        whole to read one entry would cost more than ruff's run over the file.
        """
        start = self.code.rfind("\n", 0, position) + 1
        if position == start or not self.code[start:position].isspace():
            return None  # not first on its line, or in column 0 (columns would move)
        end = self.code.find("\n", position)
        end = len(self.code) if end < 0 else end
        piece = Statement(start, end, indent=" ", dict_entries=True)  # parsed under `if 1:`
        if self._in_string(position):
            return None
        try:  # one statement, `if 1:`, holding one line: the dict (`"a": 1}; x; {"b": 2`
            [block] = self.parse(piece).body  # parses as three, and is no such line)
            [line] = block.body  # type: ignore[attr-defined]
        except (SyntaxError, ValueError):
            return None
        return piece if isinstance(line, ast.Expr) and isinstance(line.value, ast.Dict) else None

    def _line_of(self, position: int) -> int:
        """1-based; counted on from the last position asked (pieces come in order)."""
        known_position, known_line = self._last_line
        if position < known_position:
            known_position, known_line = 0, 1
        line = known_line + self.code.count("\n", known_position, position)
        self._last_line = position, line
        return line

    def _ascii(self) -> bytes:
        """The code as RE2 reads it fastest, each character at its own offset."""
        if self._text is None:
            self._text = as_ascii(self.code)
        return self._text

    def _in_string(self, position: int) -> bool:
        return bool(
            bisect.bisect_left(self._double, position) & 1
            or (self._single and bisect.bisect_left(self._single, position) & 1)
        )

    def _top_level_starts(self) -> list[int]:
        starts: list[int] = []
        code = self.code
        decorated = code.startswith("@")  # the line before is a decorator: this line is its
        double, single, bisect_left = self._double, self._single, bisect.bisect_left  # hot loop
        for match in TOP_LEVEL.finditer(code):
            position = match.start() + 1  # the line's first character
            if bisect_left(double, position) & 1 or (single and bisect_left(single, position) & 1):
                continue  # in a string
            if not decorated:
                starts.append(position)
            decorated = code[position] == "@"
        return starts

    def _has_code_left_of(self, column: int, start: int, end: int) -> bool:
        """A line of code indented less than `column`, outside strings (a body's own lines)."""
        if column < 2:
            return False
        shallower = re2.compile(rb"(?m)^[ \t]{1,%d}[^\s#)\]}]" % (column - 1))
        return any(
            not self._in_string(match.start())
            for match in shallower.finditer(self._ascii(), start, end)
        )

    def _cut_nested(self, start: int, end: int) -> list[Statement]:
        """A large top-level statement, cut at the definitions of its body."""
        found = [
            (match.start() + 1, match.group(1), match.group(2) is not None)  # the line, not "\n"
            for match in NESTED_DEFINITION.finditer(self.code, start, end)
            if not self._in_string(match.start() + 1)
        ]
        if not found:
            return [Statement(start, end)]
        indent = min((indent for _, indent, _ in found), key=len)
        if self._has_code_left_of(len(indent), start, end):
            return [Statement(start, end)]  # the definitions are not in the body itself
        cuts: list[int] = []
        decorated = False
        for position, its_indent, decorator in found:
            if its_indent != indent:
                continue
            if not decorated:
                cuts.append(position)
            decorated = decorator
        head = Statement(start, cuts[0], body_cut_at=indent)
        return [head] + [
            Statement(cut, next_cut, indent) for cut, next_cut in itertools.pairwise([*cuts, end])
        ]
