"""wrk, run in its own process, with a JSON POST; figures parsed from its report."""

import re
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import orjson

UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


@dataclass
class LoadResult:
    requests_per_s: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    non_2xx: int
    errors: int


def _ms(value: str) -> float:
    number, unit = re.match(r"([\d.]+)(us|ms|s)", value).groups()
    return float(number) * UNITS[unit]


def wrk_post(
    url: str,
    body: dict,
    headers: dict[str, str],
    connections: int,
    seconds: int = 10,
    threads: int = 1,
) -> LoadResult:
    lines = [
        'wrk.method = "POST"',
        f"wrk.body = {orjson.dumps(orjson.dumps(body).decode()).decode()}",
    ]
    return run_wrk(
        url, lines, {"Content-Type": "application/json", **headers}, connections, seconds, threads
    )


def wrk_get(
    url: str, headers: dict[str, str], connections: int, seconds: int = 10, threads: int = 1
) -> LoadResult:
    return run_wrk(url, ['wrk.method = "GET"'], headers, connections, seconds, threads)


def run_wrk(
    url: str,
    lines: list[str],
    headers: dict[str, str],
    connections: int,
    seconds: int,
    threads: int,
) -> LoadResult:
    for name, value in headers.items():
        lines.append(f'wrk.headers["{name}"] = "{value}"')
    report = wrk_report(url, "\n".join(lines) + "\n", connections, seconds, threads, ["--latency"])
    percentiles = dict(re.findall(r"^\s+(\d+)%\s+([\d.]+(?:us|ms|s))", report, re.MULTILINE))
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", report)
    errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", report
    )
    return LoadResult(
        requests_per_s=float(re.search(r"Requests/sec:\s+([\d.]+)", report).group(1)),
        p50_ms=_ms(percentiles["50"]),
        p90_ms=_ms(percentiles["90"]),
        p99_ms=_ms(percentiles["99"]),
        non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
        errors=sum(int(n) for n in errors.groups()) if errors else 0,
    )


def wrk_report(
    url: str,
    script: str,
    connections: int,
    seconds: int,
    threads: int = 1,
    options: list[str] | None = None,
) -> str:
    """Run wrk with a Lua `script` in its own process; return its report."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as file:
        file.write(script)
    try:
        return subprocess.run(
            [
                "wrk",
                f"-t{threads}",
                f"-c{connections}",
                f"-d{seconds}s",
                *(options or []),
                "-s",
                file.name,
                url,
            ],
            capture_output=True,
            text=True,
            check=True,
            timeout=seconds + 90,
        ).stdout
    finally:
        Path(file.name).unlink()
