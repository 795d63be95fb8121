"""Run every benchmark under bench/ (files named bench_*.py), one process each."""

import subprocess
import sys
from pathlib import Path

here = Path(__file__).parent
benchmarks = sorted(here.glob("bench_*.py"))
if not benchmarks:
    print("no benchmarks yet: they arrive with the issues that name them (see bench/RESULTS.md)")
failed = 0
for path in benchmarks:
    print(f"== {path.name}", flush=True)
    failed += subprocess.call([sys.executable, str(path)]) != 0
sys.exit(1 if failed else 0)
