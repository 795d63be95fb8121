"""Child processes that never outlive the process that started them.

A service's helpers (a local model server) and `revue run`'s services and
servers are started in their own session, so that a Ctrl-C reaches the
parent only and the parent stops them in order, and are asked to die with
their parent (Linux's PR_SET_PDEATHSIG): even a SIGKILLed parent leaves no
orphan behind.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
from collections.abc import Callable

PR_SET_PDEATHSIG = 1


def die_with_parent(sig: int) -> Callable[[], None]:
    """A `preexec_fn` for subprocess.Popen: own session, `sig` when the parent dies."""

    def preexec() -> None:
        os.setsid()
        # Not Linux: no parent-death signal; the parent's own stop still applies.
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, sig)

    return preexec
