"""The builtin analyzer against bandit and ruff, on code nobody on the team wrote, in one run.

Corpora: bandit's own example files (`../shared/corpora/bandit-examples/`,
Apache-2.0, read from there) and a real project from PyPI as a source
distribution (default `pip==24.2`: 413 Python files), downloaded at bench
time. bandit 1.9.4 is installed for the run only (it is no dependency of
Revue's). Findings are matched by (file, line, check number): bandit's B607
is ruff's and Revue's S607. Times: bandit's and ruff's whole command
(security rules only for ruff), Revue's `analyze_batch` of every file with
`rules=["security"]` once its workers are up (a running service's case);
ruff's and Revue's the median of runs taken in turns (five at least, more
for three seconds: a corpus ruff checks in 10 ms needs a hundred or so).
The floor: what any design that runs ruff and reads Python's syntax tree
pays, ruff's own CPU time plus `ast.parse` of the files Revue's own checks
must read, spread over both cores.

    .venv/bin/python bench/bench_builtin_analyzer.py
"""

import asyncio
import collections
import contextlib
import json
import resource
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

from peers import install_peer

from revue.analysis.adapters.providers import AnalysisInput
from revue.analysis.adapters.providers.builtin import BuiltinProvider
from revue.analysis.adapters.providers.builtin.triggers import statements_to_read

ROOT = Path(__file__).resolve().parents[1]
BANDIT_EXAMPLES = ROOT.parent / "shared" / "corpora" / "bandit-examples"
RUFF = Path(sys.executable).parent / "ruff"
Match = tuple[str, int, str]  # file, line, check number
RUNS = 5
MIN_SECONDS = 3.0
MAX_RUNS = 200


def fetch_sdist(spec: str, into: Path) -> Path:
    pip = [shutil.which("pip3") or "pip3"] if shutil.which("pip3") else ["python3", "-m", "pip"]
    subprocess.run(
        [*pip, "download", "--quiet", "--no-deps", "--no-binary", ":all:", spec, "-d", str(into)],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    archive = next(into.glob("*.tar.gz"))
    with tarfile.open(archive) as bundle:
        bundle.extractall(into, filter="data")
    return next(path for path in into.iterdir() if path.is_dir())


def relative(corpus: Path, name: str) -> str:
    return Path(name).resolve().relative_to(corpus.resolve()).as_posix()


def bandit(corpus: Path, env: dict[str, str]) -> tuple[set[Match], float]:
    started = time.perf_counter()
    run = subprocess.run(
        [sys.executable, "-m", "bandit", "-r", str(corpus), "-f", "json", "-q"],
        env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    took = time.perf_counter() - started
    results = json.loads(run.stdout)["results"]
    return {
        (relative(corpus, r["filename"]), r["line_number"], r["test_id"][1:]) for r in results
    }, took


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def ruff_once(corpus: Path) -> tuple[list[dict], float, float]:
    """ruff's records, its wall time and its CPU time (all its threads)."""
    started, cpu = time.perf_counter(), children_cpu()
    run = subprocess.run(
        [str(RUFF), "check", "--isolated", "--no-cache", "--exit-zero", "--select", "S",
         "--output-format", "json", str(corpus)],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    return json.loads(run.stdout), time.perf_counter() - started, children_cpu() - cpu


def ruff_and_revue(corpus: Path, provider: BuiltinProvider) -> dict[str, tuple[set[Match], float]]:
    """Both tools' findings and median times, their runs taken in turns (load drifts alike).

    At least RUNS rounds, more while they take under MIN_SECONDS: a 10 ms run needs
    many to give a median that holds from one run of the bench to the next.
    """
    files = sorted(corpus.rglob("*.py"))
    items = [
        AnalysisInput(path.read_text(errors="replace"), "python", ("security",), 1000)
        for path in files
    ]

    async def rounds() -> tuple[list[dict], list, dict[str, list[float]]]:
        await provider.analyze_batch(items[:2])  # workers up
        times: dict[str, list[float]] = {"ruff": [], "ruff_cpu": [], "revue": []}
        started = time.perf_counter()
        while len(times["revue"]) < RUNS or (
            time.perf_counter() - started < MIN_SECONDS and len(times["revue"]) < MAX_RUNS
        ):
            records, wall, cpu = ruff_once(corpus)
            times["ruff"].append(wall)
            times["ruff_cpu"].append(cpu)
            began = time.perf_counter()
            results = await provider.analyze_batch(items)
            times["revue"].append(time.perf_counter() - began)
        return records, results, times

    records, results, times = asyncio.run(rounds())
    ruff_found = {
        (relative(corpus, r["filename"]), r["location"]["row"], r["code"][1:])
        for r in records
        if r.get("code") and r["code"][1:].isdigit()
    }
    revue_found = set()
    for path, result in zip(files, results, strict=True):
        for finding in getattr(result, "findings", []):
            number = finding.rule_id[1:]
            if finding.rule_id.startswith("S") and number.isdigit():
                revue_found.add((path.relative_to(corpus).as_posix(), finding.line, number))
    median = {name: statistics.median(values) for name, values in times.items()}
    print(f"  ({corpus.name}: {len(times['revue'])} rounds of ruff then Revue)")
    return {
        "ruff": (ruff_found, median["ruff"]),
        "revue": (revue_found, median["revue"]),
        "ruff_cpu": (set(), median["ruff_cpu"]),
    }


def parse_floor(corpus: Path) -> tuple[float, int, int]:
    """CPU seconds of parsing alone what Revue's checks read, the files and statements read."""
    sources = [path.read_text(errors="replace") for path in corpus.rglob("*.py")]
    read = [found for source in sources if (found := statements_to_read(source)) is not None]
    started = time.process_time()
    for statements, pieces in read:
        for piece in pieces:
            with contextlib.suppress(SyntaxError, ValueError):
                statements.parse(piece)
    took = time.process_time() - started
    return took, len(read), sum(len(pieces) for _, pieces in read)


def report(
    name: str,
    files: int,
    runs: dict[str, tuple[set[Match], float]],
    ruff_cpu: float,
    floor: tuple[float, int, int],
) -> None:
    wanted, bandit_s = runs["bandit"]
    print(f"\n{name}: {files} Python files, {len(wanted)} bandit findings ({bandit_s:.2f} s)")
    ruff_s = runs["ruff"][1]
    for tool in ("ruff", "revue"):
        found, took = runs[tool]
        hits = len(wanted & found)
        print(
            f"  {tool:<6} recall {hits}/{len(wanted)} = {hits / len(wanted):.1%}"
            f"  time {took:.3f} s ({took / ruff_s:.2f}x ruff)  findings bandit lacks"
            f" {len(found - wanted)}"
        )
    parse_s, files_read, statements_read = floor
    print(
        f"  floor: ruff's CPU {ruff_cpu:.2f} s + ast.parse of the {statements_read} statements"
        f" Revue's checks read ({files_read} files) {parse_s:.3f} s"
        f" = {(ruff_cpu + parse_s) / 2:.2f} s on two cores"
        f" = {(ruff_cpu + parse_s) / 2 / ruff_s:.1f}x ruff's run"
    )
    found = runs["revue"][0]
    missed = collections.Counter(f"B{number}" for _, _, number in wanted - found)
    extra = collections.Counter(f"S{number}" for _, _, number in found - wanted)
    print(f"  bandit finds, Revue does not: {dict(missed.most_common())}")
    print(f"  Revue finds, bandit does not: {dict(extra.most_common())}")


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="revue-bench-analyzer-"))
    provider = BuiltinProvider(processes=2)
    try:
        env = install_peer("bandit==1.9.4", work / "peers")
        project = fetch_sdist(sys.argv[1] if len(sys.argv) > 1 else "pip==24.2", work / "sdist")
        for corpus in (BANDIT_EXAMPLES, project):
            runs = {"bandit": bandit(corpus, env), **ruff_and_revue(corpus, provider)}
            ruff_cpu = runs.pop("ruff_cpu")[1]
            files = len(list(corpus.rglob("*.py")))
            report(corpus.name, files, runs, ruff_cpu, parse_floor(corpus))
    finally:
        provider.workers.close()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
