"""Revue's own Python security checks: each finds its case and leaves the safe form alone."""

import pytest

from revue.analysis.adapters.providers.builtin.security_checks import security_findings

CASES = [
    ("S502", "import ssl\nssl.wrap_socket(ssl_version=ssl.PROTOCOL_SSLv3)\n",
     "import ssl\nssl.wrap_socket(ssl_version=ssl.PROTOCOL_TLS_CLIENT)\n"),
    ("S503", "def connect(version=SSL.TLSv1_1_METHOD):\n    pass\n",
     "def connect(version=SSL.TLSv1_2_METHOD):\n    pass\n"),
    ("S504", "import ssl\nssl.wrap_socket()\n",
     "import ssl\nssl.wrap_socket(ssl_version=ssl.PROTOCOL_TLS_CLIENT)\n"),
    ("S602", "from subprocess import Popen as run\nrun(cmd, shell=True)\n",
     "from subprocess import Popen as run\nrun(['ls'], shell=False)\n"),
    ("S603", "import subprocess as sp\nsp.call(['ls', '-l'])\n",
     "import subprocess as sp\nsp.call('ls', shell=True)\n"),
    ("S608", "q = '''SELECT *\nFROM users WHERE id = %s''' % user_id\n",
     "q = 'SELECT * FROM users WHERE id = %s'\ncursor.execute(q, (user_id,))\n"),
    ("S608", "q = f'DELETE FROM t WHERE id = {ident}'\n", "q = f'hello {name}'\n"),
    ("S608", "q = 'SELECT a FROM b WHERE c = {}'.format(value)\n",
     "q = 'SELECT a FROM b WHERE c = {}'.format(3)\n"),
    ("S614", "import torch\ntorch.load('w.pth')\n",
     "import torch\ntorch.load('w.pth', weights_only=True)\n"),
    ("S615", "AutoModel.from_pretrained('org/model', revision='main')\n",
     "AutoModel.from_pretrained('org/model', revision='" + "a" * 40 + "')\n"),
    ("S615", "hf_hub_download(repo_id='org/model', filename='c.json')\n",
     "AutoModel.from_pretrained('./local_model')\n"),
    ("S608", "q = f'''WITH r AS (SELECT id FROM t)\nSELECT * FROM r WHERE id = {ident}'''\n",
     "q = f'with care, {name}'\n"),
    ("S403", "loader = __import__('pickle')\n", "loader = __import__('json')\n"),
    ("S403", "loader = __import__('cPickle')\n", "loader = __import__('json')\n"),
    ("S404", "m = importlib.import_module(name='subprocess')\n",
     "m = importlib.import_module(name='json')\n"),
    ("S404", "from ..subprocess import Popen\n", "from ..tools import Popen\n"),
    ("S308", "from django.utils.safestring import mark_safe\nmark_safe('<b>fixed</b>')\n",
     "from markupsafe import Markup\nMarkup('<b>fixed</b>')\n"),
    ("S105", "settings = {\n    'db_password': 'hunter2',\n}\n",
     "settings = {\n    'db_password': password_from_env,\n}\n"),
    ("S105", "connect(**{'token': 'abc'})\n", "connect(**{'tokens': 'abc'})\n"),
    ("S703", "from django.utils.safestring import mark_safe\nmark_safe(user_html)\n",
     "from django.utils.safestring import mark_safe\nmark_safe('<b>fixed</b>')\n"),
]  # fmt: skip


@pytest.mark.parametrize(("rule", "unsafe", "safe"), CASES, ids=[c[0] for c in CASES])
def test_each_check_finds_its_case_and_not_the_safe_form(rule, unsafe, safe):
    found = security_findings(unsafe)
    assert rule in {finding.rule_id for finding in found}, found
    assert rule not in {finding.rule_id for finding in security_findings(safe)}
    assert all(finding.line >= 1 and finding.fix_hint for finding in found)


def test_code_that_does_not_parse_or_nests_absurdly_is_no_failure():
    assert security_findings("def broken(:\n") == []
    deep = "x = " + "(" * 50_000 + "1" + ")" * 50_000 + "\n"
    assert security_findings(deep) == []


def test_a_hostile_sql_like_string_is_checked_in_linear_time():
    import time

    text = "select " + " from" * 200_000  # never followed by the keyword's end
    started = time.process_time()
    security_findings(f"q = {text!r} % x\n")
    assert time.process_time() - started < 2.0
