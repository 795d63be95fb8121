"""Python security checks that ruff lacks, on Python's own syntax tree (one parse per file).

Each check is named after bandit's (its `B###` is our `S###`, as ruff
numbers its own S rules), and reports where bandit does: the line of the
call or definition.

- S502 ssl-with-bad-version: any call given `ssl_version=` / `method=` an
  SSLv2/SSLv3/TLSv1/TLSv1.1 protocol (ruff knows only a few callees);
- S503 ssl-with-bad-defaults: a function whose parameter defaults to one;
- S504 ssl-with-no-version: `ssl.wrap_socket()` without `ssl_version`;
- S614 pytorch-load: `torch.load` without `weights_only=True` (it unpickles);
- S615 huggingface-unsafe-download: a hub download (`from_pretrained`,
  `hf_hub_download`, `snapshot_download`, `load_dataset`) of a hub name with
  no pinned commit (`revision` of 40 hex digits);
- S602 / S603 subprocess with / without a shell: every `subprocess` call,
  import aliases followed (ruff misses the aliased forms);
- S608 hardcoded-sql-expression: SQL text (its statement's keywords anywhere
  in the string, across lines too) built with `%`, `+`, `.format`,
  `.replace` or an f-string from values that are not constants;
- S401-S415 for imports ruff does not see: `__import__("pickle")`,
  `importlib.import_module(name="subprocess")`, `from .. import subprocess`;
- S703 django-mark-safe: `mark_safe` / `SafeString` & co. given anything but
  a string literal; S308 every call of Django's `mark_safe` (bandit's B308);
- S105 a password-like dict key given a constant (`{"db_password": "x"}`).

Runs in the analyzer's worker processes (never on the event loop); code that
does not parse yields nothing here (ruff reports the syntax error).
"""

from __future__ import annotations

import ast
import contextlib
import re

from revue.analysis.adapters.providers.builtin.check_facts import facts_for
from revue.analysis.adapters.providers.builtin.triggers import (
    CALL_WORDS,
    statements_naming,
    statements_to_read,
)
from revue.common.contracts.events import Finding

BAD_PROTOCOLS = re.compile(r"(?:PROTOCOL_)?(?:SSLv2|SSLv3|TLSv1|TLSv1_1)(?:_METHOD)?$")
HUB_CALLS = frozenset({"from_pretrained", "hf_hub_download", "snapshot_download", "load_dataset"})
COMMIT = re.compile(r"^[0-9a-f]{40}$")
SAFE_STRINGS = frozenset({"mark_safe", "SafeString", "SafeText", "SafeUnicode", "SafeBytes"})
# Anchored at the text's start, so each string is scanned from one place only.
SQL = re.compile(
    r"^\s*(?:select\s[\s\S]*\sfrom\s|insert\s+into\s|update\s[\s\S]*\sset\s"
    r"|delete\s+from\s|with\s[\s\S]*\sas\s*\()",
    re.IGNORECASE,
)
# bandit's import blacklist (B401-B415), by top-level module.
IMPORT_CHECKS = {
    "telnetlib": "S401", "ftplib": "S402", "pickle": "S403", "cPickle": "S403", "dill": "S403",
    "shelve": "S403", "subprocess": "S404", "xml.etree": "S405", "xml.sax": "S406",
    "xml.dom.expatbuilder": "S407", "xml.dom.minidom": "S408", "xml.dom.pulldom": "S409",
    "lxml": "S410", "xmlrpc": "S411", "Crypto": "S413", "pyghmi": "S415",
}  # fmt: skip
# bandit's words for a password-like name, whole or between underscores.
_CREDENTIAL_WORDS = "(pas+wo?r?d|pass(phrase)?|pwd|token|secrete?)"
CREDENTIAL_NAME = re.compile(
    f"(^{_CREDENTIAL_WORDS}$|_{_CREDENTIAL_WORDS}_|^{_CREDENTIAL_WORDS}_|_{_CREDENTIAL_WORDS}$)",
    re.IGNORECASE,
)
DYNAMIC_IMPORTS = frozenset({"__import__", "importlib.__import__", "importlib.import_module"})
SUBPROCESS = frozenset(
    f"subprocess.{name}" for name in ("Popen", "call", "check_call", "check_output", "run")
)


def _name(node: ast.AST) -> str:
    """`a.b.c` -> "a.b.c" for names and attribute chains; "" for anything else."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        inner = _name(node.value)
        return f"{inner}.{node.attr}" if inner else ""
    return ""


def _bad_protocol(node: ast.AST) -> bool:
    return bool(BAD_PROTOCOLS.search(_name(node).rsplit(".", 1)[-1]))


def _keyword(call: ast.Call, name: str) -> ast.expr | None:
    return next((k.value for k in call.keywords if k.arg == name), None)


def _finding(rule: str, node: ast.AST, severity: str, message: str, hint: str) -> Finding:
    facts = facts_for(rule)
    return Finding(
        rule_id=rule,
        severity=facts.severity if facts else severity,  # type: ignore[arg-type]
        line=getattr(node, "lineno", 1),
        column=getattr(node, "col_offset", 0) + 1,
        message=message,
        fix_hint=hint,
        confidence=facts.confidence if facts else "medium",
        cwe=facts.cwe if facts else None,
    )


class _Checks(ast.NodeVisitor):
    def __init__(self) -> None:
        self.found: list[Finding] = []
        self.aliases: dict[str, str] = {}  # local name -> what it was imported as

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self.aliases[alias.asname or alias.name.split(".")[0]] = (
                alias.name if alias.asname else alias.name.split(".")[0]
            )

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        for alias in node.names:
            if node.module:
                self.aliases[alias.asname or alias.name] = f"{node.module}.{alias.name}"
        if node.level:  # relative: ruff's import checks know absolute names only
            names = [node.module] if node.module else [alias.name for alias in node.names]
            for name in names:
                self._import(node, name)

    def _import(self, node: ast.AST, module: str) -> None:
        for prefix, rule in IMPORT_CHECKS.items():
            if module == prefix or module.startswith(prefix + "."):
                self.found.append(
                    _finding(
                        rule, node, "low", f"import of {module}: review how it is used",
                        "Prefer a safer module (defusedxml, json, shlex-free subprocess use).",
                    )
                )  # fmt: skip
                return

    def resolved(self, node: ast.AST) -> str:
        """The dotted name a callee stands for, through the file's import aliases."""
        name = _name(node)
        head, dot, rest = name.partition(".")
        return self.aliases.get(head, head) + dot + rest if name else ""

    def visit_BinOp(self, node: ast.BinOp) -> None:
        if (
            isinstance(node.op, ast.Mod | ast.Add)
            and _sql_text(node.left)
            and not isinstance(node.right, ast.Constant)
        ):
            self._sql(node)
        else:
            self.generic_visit(node)

    def visit_JoinedStr(self, node: ast.JoinedStr) -> None:
        parts = [v.value for v in node.values if isinstance(v, ast.Constant)]
        if any(isinstance(v, ast.FormattedValue) for v in node.values) and SQL.search(
            "{}".join(str(part) for part in parts)
        ):
            self._sql(node)

    def _sql(self, node: ast.AST) -> None:
        self.found.append(
            _finding(
                "S608", node, "medium", "SQL built from strings: possible SQL injection",
                "Use parameterized queries (placeholders bound by the driver).",
            )
        )  # fmt: skip

    def visit_Call(self, node: ast.Call) -> None:
        if (
            isinstance(node.func, ast.Attribute)
            and node.func.attr in ("format", "replace")
            and _sql_text(node.func.value)
            and any(not isinstance(arg, ast.Constant) for arg in node.args)
        ):
            self._sql(node)
        callee = self.resolved(node.func)
        if callee in DYNAMIC_IMPORTS:
            module = node.args[0] if node.args else _keyword(node, "name")
            if isinstance(module, ast.Constant) and isinstance(module.value, str):
                self._import(node, module.value)
        if callee in SUBPROCESS and not _falsy(_keyword(node, "shell")):
            self.found.append(
                _finding(
                    "S602", node, "high", "subprocess call with shell=True: shell injection",
                    "Pass a list of arguments and leave shell off.",
                )
            )  # fmt: skip
        elif callee in SUBPROCESS:
            self.found.append(
                _finding(
                    "S603", node, "low", "subprocess call: check for execution of untrusted input",
                    "Run a fixed program with a list of arguments, never user-built commands.",
                )
            )  # fmt: skip
        last = callee.rsplit(".", 1)[-1]
        for keyword in ("ssl_version", "method"):
            value = _keyword(node, keyword)
            if value is not None and _bad_protocol(value):
                self.found.append(
                    _finding(
                        "S502", node, "high", f"`{keyword}` is a broken SSL/TLS version",
                        "Use ssl.PROTOCOL_TLS_CLIENT / TLS 1.2 or later.",
                    )
                )  # fmt: skip
        if callee == "ssl.wrap_socket" and _keyword(node, "ssl_version") is None:
            self.found.append(
                _finding(
                    "S504", node, "low", "ssl.wrap_socket() without an ssl_version",
                    "Use an SSLContext with a minimum of TLS 1.2.",
                )
            )  # fmt: skip
        if callee == "torch.load":
            weights_only = _keyword(node, "weights_only")
            if not (isinstance(weights_only, ast.Constant) and weights_only.value is True):
                self.found.append(
                    _finding(
                        "S614", node, "medium", "torch.load unpickles: it can run any code",
                        "Pass weights_only=True.",
                    )
                )  # fmt: skip
        if last in HUB_CALLS and self._unpinned(node):
            self.found.append(
                _finding(
                    "S615", node, "medium", "a hub download without a pinned revision",
                    "Pass revision=<the 40-hex-digit commit> you reviewed.",
                )
            )  # fmt: skip
        if callee == "django.utils.safestring.mark_safe":  # bandit's B308: any call at all
            self.found.append(
                _finding(
                    "S308", node, "medium", "mark_safe() may expose cross-site scripting",
                    "Escape with django.utils.html.format_html instead.",
                )
            )  # fmt: skip
        if last in SAFE_STRINGS and node.args and not _literal(node.args[0]):
            self.found.append(
                _finding(
                    "S703", node, "medium", f"{last}() of a value that is not a literal (XSS)",
                    "Escape with django.utils.html.format_html instead.",
                )
            )  # fmt: skip
        self.generic_visit(node)

    @staticmethod
    def _unpinned(call: ast.Call) -> bool:
        source = call.args[0] if call.args else _keyword(call, "repo_id")
        local = isinstance(source, ast.Constant) and str(source.value).startswith((".", "/", "~"))
        if local:
            return False  # a local path downloads nothing
        revision = _keyword(call, "revision")
        if revision is None:
            return True
        return isinstance(revision, ast.Constant) and not COMMIT.match(str(revision.value))

    def visit_Dict(self, node: ast.Dict) -> None:
        """S105 for `{"password": "..."}`: a password-like key given a constant (bandit's
        B105 for dicts, which ruff's S105 does not cover)."""
        for key, value in zip(node.keys, node.values, strict=True):
            if (
                isinstance(key, ast.Constant)
                and isinstance(key.value, str)
                and isinstance(value, ast.Constant)
                and CREDENTIAL_NAME.search(key.value)
            ):
                self.found.append(
                    _finding(
                        "S105", key, "low", f"hard-coded password under {key.value[:40]!r}?",
                        "Load it from the environment or a secret manager.",
                    )
                )  # fmt: skip
        self.generic_visit(node)

    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        defaults = [*node.args.defaults, *(d for d in node.args.kw_defaults if d is not None)]
        if any(_bad_protocol(default) for default in defaults):
            self.found.append(
                _finding(
                    "S503", node, "medium", "a parameter defaults to a broken SSL/TLS version",
                    "Default to TLS 1.2 or later.",
                )
            )  # fmt: skip
        self.generic_visit(node)

    visit_AsyncFunctionDef = visit_FunctionDef

    # NodeVisitor's own visit and generic_visit, without what costs most on every node:
    # the method looked up by a name built from strings, a generator over the fields,
    # and a call for each leaf no check reads (names, constants, operators, contexts).
    def visit(self, node: ast.AST) -> None:
        method = _HANDLERS.get(type(node))
        if method is None:
            self.generic_visit(node)
        else:
            method(self, node)

    def generic_visit(self, node: ast.AST) -> None:
        for field in node._fields:
            value = getattr(node, field, None)
            if type(value) is list:
                for item in value:
                    if isinstance(item, ast.AST) and type(item) not in _LEAVES:
                        self.visit(item)
            elif isinstance(value, ast.AST) and type(value) not in _LEAVES:
                self.visit(value)


_HANDLERS = {
    node_type: getattr(_Checks, f"visit_{node_type.__name__}")
    for node_type in (
        ast.Import, ast.ImportFrom, ast.BinOp, ast.JoinedStr, ast.Call, ast.Dict,
        ast.FunctionDef, ast.AsyncFunctionDef,
    )
}  # fmt: skip
_LEAVES = frozenset(
    {ast.Name, ast.Constant, ast.Load, ast.Store, ast.Del, ast.alias}
    | {node_type for base in (ast.operator, ast.unaryop, ast.cmpop, ast.boolop)
       for node_type in base.__subclasses__()}
)  # fmt: skip


def _sql_text(node: ast.AST) -> bool:
    return (
        isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and bool(SQL.search(node.value[:10_000]))
    )


def _falsy(node: ast.AST | None) -> bool:
    """`shell=` left out, or given a constant that is false (False, 0, None, [], {})."""
    if node is None:
        return True
    if isinstance(node, ast.Constant):
        return not node.value
    return isinstance(node, ast.List | ast.Dict | ast.Tuple | ast.Set) and not (
        node.elts if not isinstance(node, ast.Dict) else node.keys
    )


def _literal(node: ast.AST) -> bool:
    return isinstance(node, ast.Constant) and isinstance(node.value, str | bytes)


# More aliases than this to follow, or statements to read, and the whole file is parsed
# instead: one parse of a file is linear, where each piece costs a parser's start.
MAX_ALIASES_FOLLOWED = 64
MAX_PIECES = 256


def security_findings(code: str) -> list[Finding]:
    """Only the statements a check could fire on are parsed: parsing is most of the cost.

    Parsing a whole file costs more than ruff's run over it (bench/RESULTS.md); a
    statement without any of the checks' words (triggers.py) cannot be reported.
    A callee imported under another name (`from subprocess import run as go`) is
    followed: the statements using `go` are read next. Where a piece does not parse,
    the whole file is parsed instead, so what is found never depends on the cut.
    """
    to_read = statements_to_read(code)
    if to_read is None:
        return []
    statements, pieces = to_read
    if len(pieces) > MAX_PIECES:
        return whole_file_findings(code)
    checks = _Checks()
    try:
        _visit(checks, [statements.parse(piece) for piece in pieces])
        aliases = {
            local
            for local, target in checks.aliases.items()
            if any(word in target for word in CALL_WORDS)
            and not any(word in local for word in CALL_WORDS)
        }
        if len(aliases) > MAX_ALIASES_FOLLOWED:
            raise SyntaxError("too many aliases to follow")
        read = set(pieces)
        more = [piece for piece in statements_naming(statements, aliases) if piece not in read]
        if len(pieces) + len(more) > MAX_PIECES:
            raise SyntaxError("too many statements to read one by one")
        _visit(checks, [statements.parse(piece) for piece in more])
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return whole_file_findings(code)
    # A dict's line read alone may also sit in a statement read whole: one finding each.
    return list({(f.rule_id, f.line, f.column): f for f in checks.found}.values())


def whole_file_findings(code: str) -> list[Finding]:
    """The whole file parsed and walked: where a cut went wrong, and the reference."""
    checks = _Checks()
    try:
        _visit(checks, [ast.parse(code)])
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return []  # ruff reports the syntax error
    return checks.found


def _visit(checks: _Checks, trees: list[ast.Module]) -> None:
    with contextlib.suppress(RecursionError):  # absurdly deep nesting: what was found so far
        for tree in trees:
            checks.visit(tree)
