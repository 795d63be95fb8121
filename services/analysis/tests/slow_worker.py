"""The real analysis service in its own process, with every provider call slowed.

Run by the crash test: it gives the test time to SIGKILL a worker while a
job is in flight. Configuration comes from the environment, as for the
service itself; SLOW_PROVIDER_DELAY sets the delay in seconds.
"""

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from providers import FaultInjectingProvider

from revue.analysis.adapters.providers.builtin import BuiltinProvider
from revue.analysis.app import create_app
from revue.analysis.settings import AnalysisSettings
from revue.common.service import serve

if __name__ == "__main__":
    settings = AnalysisSettings()
    delay = float(os.environ.get("SLOW_PROVIDER_DELAY", "30"))
    provider = FaultInjectingProvider(BuiltinProvider(processes=1), delay=delay)
    serve(create_app(settings, provider=provider), settings)
