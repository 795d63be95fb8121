"""Only the statements a security check could fire on are parsed, and nothing found is lost.

The reference is the whole file parsed and walked, as the checks did before:
on Python's own standard library (code nobody on the team wrote, thousands
of files) reading only the statements that hold a check's words must find
exactly the same findings. The cutting itself is tested on the forms that
could fool it: strings spanning lines, decorators, bodies cut in pieces.
"""

import ast
import sysconfig
import time
from pathlib import Path

import pytest

from revue.analysis.adapters.providers.builtin.security_checks import (
    security_findings,
    whole_file_findings,
)
from revue.analysis.adapters.providers.builtin.statements import SPLIT_FROM_CHARS, Statements
from revue.analysis.adapters.providers.builtin.triggers import statements_to_read

STDLIB = Path(sysconfig.get_paths()["stdlib"])
SECONDS_PER_MEGABYTE = 2.0


def findings(found):
    return sorted((f.rule_id, f.line, f.column) for f in found)


def test_the_standard_library_gives_what_the_whole_file_gives():
    files = sorted(p for p in STDLIB.rglob("*.py") if "site-packages" not in p.parts)[:2000]
    compared = with_findings = 0
    for path in files:
        code = path.read_text(errors="replace")
        whole = whole_file_findings(code)
        assert findings(security_findings(code)) == findings(whole), path
        compared += 1
        with_findings += bool(whole)
    assert compared == len(files) and with_findings > 30  # the checks had work to do


def method(name: str, body: str = "pass") -> str:
    return f"    def {name}(self):\n        {body}\n" + "        x = 1\n" * 100


def test_a_large_class_is_cut_at_its_methods_and_each_piece_parses_at_its_own_lines():
    code = (
        "import subprocess\n\n\n"
        "class Runner:\n"
        '    """Runs.\n\nclass NotACut:\n    pass\n"""\n\n'  # column-0 lines inside a string
        "    @staticmethod\n"
        "    @other\n" + method("first").replace("    def first(self)", "    def first()")
        + method("second", "subprocess.call('ls', shell=True)")
    )  # fmt: skip
    assert len(code) > SPLIT_FROM_CHARS
    statements = Statements(code)
    call = code.index("subprocess.call")
    piece = statements.containing(call)
    assert code[piece.start :].startswith("    def second")  # only that method
    tree = statements.parse(piece)
    [found] = [node for node in ast.walk(tree) if isinstance(node, ast.Call)]
    assert found.lineno == code[:call].count("\n") + 1
    decorated = statements.containing(code.index("def first"))
    assert code[decorated.start :].startswith("    @staticmethod")  # decorators stay with it
    head = statements.containing(code.index("class Runner"))
    assert "NotACut" in code[head.start : head.end]
    statements.parse(head)  # the class header, its body cut off, still parses
    assert {f.rule_id for f in security_findings(code)} == {"S602"}


def test_a_function_whose_definitions_sit_deeper_than_its_body_is_read_whole():
    code = (
        "def outer():\n    if True:\n        def inner():\n            subprocess.run(x)\n"
        "    return inner\n" + "# padding\n" * (SPLIT_FROM_CHARS // 10)
    )
    statements = Statements(code)
    piece = statements.containing(code.index("subprocess"))
    assert piece.start == 0
    assert {f.rule_id for f in security_findings(code)} == {"S603"}


def test_a_wrong_cut_falls_back_to_the_whole_file():
    # A column-0 line inside brackets looks like a statement's start and cuts wrongly.
    code = "result = call(\nsubprocess.Popen(cmd, shell=True)\n)\n"
    assert {f.rule_id for f in security_findings(code)} == {"S602"}


def test_a_file_without_any_checks_word_is_not_cut_at_all():
    plain = "import ssl\nctx = ssl.create_default_context()\nnote = 'with care'\n"
    assert statements_to_read(plain) is None
    assert statements_to_read(plain + "sock = ssl.wrap_socket(raw)\n") is not None
    assert statements_to_read("q = 'with t as (select 1) select * from t where a = %s' % a\n")
    assert statements_to_read("import pickle\n") is None  # ruff reports plain imports
    assert statements_to_read("m = __import__('cPickle')\n") is not None


def test_a_password_in_one_line_of_a_huge_table_is_read_from_that_line_alone():
    entries = "".join(f'    "name_{n}": "{n}",\n' for n in range(20_000))
    code = "TABLE = {\n" + entries + '    "api_secret": "hunter2",\n' + entries + "}\n"
    to_read = statements_to_read(code)
    assert to_read is not None
    [piece] = to_read[1]
    assert piece.end - piece.start < 40
    [found] = security_findings(code)
    assert (found.rule_id, found.line, found.column) == ("S105", 20_002, 5)


def test_a_line_that_only_looks_like_dict_entries_is_read_in_its_statement():
    entries = "".join(f'    "name_{n}": {n},\n' for n in range(300))
    code = "T = {\n" + entries + '    "password": "x"}; import os; {"a": 1,\n' + "}\n"
    assert findings(security_findings(code)) == findings(whole_file_findings(code))
    assert findings(security_findings(code)) == [("S105", 302, 5)]


HOSTILE = [
    '"select ' * 125_000,  # SQL starts never followed by their keyword
    "pickle " * 140_000,  # blacklisted names, no relative import
    "from . import x\n" + "x = [" + "pickle, " * 120_000 + "]\n",  # ...in one statement
    "subprocess.call(x)\n" * 50_000,  # a hundred thousand small statements to read
    "from subprocess import run as go\n" + "go(x)\n" * 150_000,  # an alias to follow
    '"""\n' * 250_000,  # tripled quotes, every line a string's start or end
    "@d\n" * 250_000 + "def f(): subprocess.run(x)\n",  # decorators
    "class A:\n" + "    def f(self): subprocess.run(x)\n" * 30_000,  # a huge class
    '    "password_' + "_" * 100_000 + '": "x",\n',  # a key as long as the line
]  # fmt: skip


@pytest.mark.parametrize("code", HOSTILE, ids=range(len(HOSTILE)))
def test_hostile_files_cost_a_bounded_time_per_megabyte(code):
    """Bounded per megabyte, or, where the file is dense code, by the whole file's walk:
    reading pieces must never cost much more than reading everything once."""
    started = time.process_time()
    whole_file_findings(code)
    whole = time.process_time() - started
    started = time.process_time()
    security_findings(code)
    elapsed = time.process_time() - started
    bound = max(SECONDS_PER_MEGABYTE * len(code) / 1e6, 1.5 * whole)
    assert elapsed < bound, f"{elapsed:.2f} s, the whole file's walk {whole:.2f} s"
