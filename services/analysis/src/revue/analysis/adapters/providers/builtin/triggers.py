"""Which statements of a file the security checks must read: those holding a word they look for.

Every check in security_checks.py needs one of these words in the
statement it reports (a callee's name, a bad protocol's, a blacklisted
module's) or a string that starts like SQL; a callee imported under
another name is followed by the caller, which asks again for that name.
One scan finds every such place in a file: Google RE2 runs the whole
alternation as one automaton, in one pass, where Python's `re` tries each
word at each position. Every search here runs on the code as ASCII bytes,
each other character a "?" (every word looked for is ASCII, and a
character's offset stays its byte's), and the pattern has no groups (what a
place is, is told from its text): both spare RE2's wrapper its work per
match, which is most of the scan's time on real code.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterable

import re2

from revue.analysis.adapters.providers.builtin.statements import Statement, Statements, as_ascii

CALL_WORDS = (
    "subprocess", "SSLv2", "SSLv3", "TLSv1", "wrap_socket", "torch", "from_pretrained",
    "hf_hub_download", "snapshot_download", "load_dataset", "mark_safe", "SafeString",
    "SafeText", "SafeUnicode", "SafeBytes", "safestring",
)  # fmt: skip
# Blacklisted modules: ruff reports their plain imports, so what is left for us is an
# import that names them in a string (`__import__("pickle")`) or a relative import.
IMPORT_WORDS = frozenset(
    ("telnetlib", "ftplib", "pickle", "Pickle", "dill", "shelve", "xml", "Crypto", "pyghmi")
)
# Three kinds of place, told apart by their first character:
# - `import...("name`: a word that ends a module's name in an import's string;
# - a quote: a string that starts like SQL (after blanks or a backslash-newline), or,
#   ending in a colon, a dict's password-like key;
# - else the word itself.
PATTERN = (
    r"(?:import\w*\(\s*(?:name\s*=\s*)?[\"'][\w.]*)?"
    f"(?:{'|'.join((*CALL_WORDS, *sorted(IMPORT_WORDS)))})"
    r"|[\"'][ \t\r\n\\]*(?i:select|update|with|insert[ \t\r\n]+into|delete[ \t\r\n]+from)"
    r"[ \t\r\n]"
    r"|[\"'](?:[^\"'\n]*_)?(?i:pas+wo?r?d|pass(?:phrase)?|pwd|token|secrete?)"
    r"(?:_[^\"'\n]*)?[\"'][ \t]*:"
)
TRIGGERS = re2.compile(PATTERN.encode())
RELATIVE_IMPORT = re2.compile(rb"(?m)^[ \t]*from[ \t]+\.")
# A string that starts with "select", "update" or "with" is SQL only with what must follow
# (security_checks.SQL). Quotes may stand between the words ("SELECT x " "FROM t" is one
# string once joined), and a blank may be an escape ("SELECT x\\nFROM t").
_GAP = r"(?:[\s\"']|\\[ntr])"
SQL_BODY = {
    "select": re2.compile(rf"(?i){_GAP}from{_GAP}".encode()),
    "update": re2.compile(rf"(?i){_GAP}set{_GAP}".encode()),
    "with": re2.compile(rf"(?i){_GAP}as{_GAP}*\(".encode()),  # a common table expression
}
# How far after its first keyword a statement's SQL is looked for (bounds the search).
SQL_REACH = 10_000
# Questions of one kind answered by a search each, before the whole file is searched once.
SEARCHES_BEFORE_SCAN = 16
Place = tuple[int, int, str]  # start, end, text


def statements_to_read(code: str) -> tuple[Statements, list[Statement]] | None:
    """The file's statements and those the checks must read, in order; None if none."""
    text = as_ascii(code)
    places = [
        (match.start(), match.end(), match.group().decode()) for match in TRIGGERS.finditer(text)
    ]
    if not places:
        return None
    evidence = _Evidence(text)
    # What can be told without the statements first: most files stop here, uncut.
    places = [place for place in places if evidence.counts(place)]
    if not places:
        return None
    statements = Statements(code, text)
    wanted: set[Statement] = set()
    for place in places:
        piece = _dict_key(statements, place) or statements.containing(place[0])
        if piece not in wanted and evidence.counts(place, piece):
            wanted.add(piece)
    if not wanted:
        return None
    return statements, sorted(wanted, key=lambda piece: piece.start)


def _dict_key(statements: Statements, place: Place) -> Statement | None:
    """A password-like key's own line, where that line is whole dict entries."""
    return statements.dict_entries_at(place[0]) if place[2][-1] == ":" else None


def statements_naming(statements: Statements, names: Iterable[str]) -> list[Statement]:
    """The statements that use any of `names` as a whole name (a callee's local alias)."""
    alternation = "|".join(re.escape(name) for name in sorted(set(names)))
    if not alternation:
        return []
    code = statements.code
    found = {
        statements.containing(match.start())
        for match in re2.compile(rf"\b(?:{alternation})\b".encode()).finditer(as_ascii(code))
        if not (match.start() and code[match.start() - 1] == ".")  # `self.run`: no alias
    }
    return sorted(found, key=lambda piece: piece.start)


class _Evidence:
    """What decides whether a place counts: the SQL's rest, a relative import near it.

    The first few questions of a kind search the text they ask about; past those,
    every occurrence in the file is found in one search and then looked up by
    position, so a file of a hundred thousand places costs one linear search per
    kind, never one per place.
    """

    def __init__(self, text: bytes) -> None:
        self.text = text
        self._asked: dict[str, int] = {}
        self._found: dict[str, list[int]] = {}  # kind -> where each occurrence starts

    def counts(self, place: Place, piece: Statement | None = None) -> bool:
        """Whether the place counts within its statement, or (no statement yet) could
        count anywhere in the file."""
        _, end, text = place
        start, stop = (0, len(self.text)) if piece is None else (piece.start, piece.end)
        if text[-1] == ":":
            return True
        if text[0] in "\"'":
            return self._sql_follows(text, end, min(stop, end + SQL_REACH))
        if text in IMPORT_WORDS:
            return self._any("relative", start, stop)
        return True

    def _sql_follows(self, text: str, end: int, reach: int) -> bool:
        keyword = text.strip("\"' \t\r\n\\").split(None, 1)[0].lower()
        return keyword not in SQL_BODY or self._any(keyword, end - 1, reach)

    def _any(self, kind: str, start: int, end: int) -> bool:
        """An occurrence of `kind` that starts in [start, end)."""
        pattern = RELATIVE_IMPORT if kind == "relative" else SQL_BODY[kind]
        if kind not in self._found:
            self._asked[kind] = asked = self._asked.get(kind, 0) + 1
            if asked <= SEARCHES_BEFORE_SCAN and kind != "relative":  # that one asks the file
                return pattern.search(self.text, start, end) is not None
            self._found[kind] = [match.start() for match in pattern.finditer(self.text)]
        found = self._found[kind]
        index = bisect.bisect_left(found, start)
        return index < len(found) and found[index] < end
