"""Static checks that take for ever on a marked input: the deadline tests' pathological item.

Imported by name in the analysis worker processes, so it lives in a module
of its own (a test function could not be sent to another process).
"""

import time

from revue.analysis.adapters.providers.builtin.static_checks import check_many

MARKER = "# spin-forever"


def check_many_spinning_on_marker(items):
    if any(MARKER in code for code, _, _ in items):
        while True:  # what a pathological expression does: burn CPU, never return
            time.perf_counter()
    return check_many(items)
