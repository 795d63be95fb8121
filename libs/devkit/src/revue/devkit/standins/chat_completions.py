"""LOCAL STAND-IN for an OpenAI-compatible chat-completions server.

A hosted model cannot run on this machine, so the OpenAI provider's tests
talk to this server instead. It speaks the real wire format
(`POST /v1/chat/completions` with `model`, `messages`, `response_format`;
answers with `choices[0].message.content` holding the JSON findings) and the
real failure answers (429 with Retry-After, 5xx, malformed content). Its
"model" reports every line containing `eval(` as a finding. The fault tests
switch it down (every request 500) or make a share of requests fail (503).
"""

from __future__ import annotations

import random
import threading
import time
from collections import deque
from dataclasses import dataclass, field

import orjson
import uvicorn
from fastapi import FastAPI, Request, Response

from revue.devkit.embedded.probes import free_port


@dataclass
class Script:
    """Answers to give before behaving normally: (status, headers, body) each."""

    queued: deque[tuple[int, dict[str, str], bytes]] = field(default_factory=deque)
    requests: list[dict] = field(default_factory=list)
    request_times: list[float] = field(default_factory=list)
    down: bool = False  # every request answered 500 (a provider outage)
    failure_rate: float = 0.0  # this share of requests answered 503 (transient faults)
    seed: int = 0
    faults_given: int = 0

    def __post_init__(self) -> None:
        self.random = random.Random(self.seed)  # noqa: S311 - a reproducible fault pattern


def model_answer(code: str) -> dict:
    findings = [
        {
            "rule_id": "LLM-EVAL",
            "severity": "high",
            "line": number,
            "column": line.index("eval(") + 1,
            "message": "eval() on untrusted input",
            "fix_hint": "Use ast.literal_eval or a parser.",
        }
        for number, line in enumerate(code.splitlines(), start=1)
        if "eval(" in line
    ]
    return {"findings": findings}


def create_app(script: Script) -> FastAPI:
    app = FastAPI()

    @app.post("/v1/chat/completions")
    async def completions(request: Request) -> Response:
        body = await request.json()
        script.requests.append(body)
        script.request_times.append(time.monotonic())
        if script.queued:
            status, headers, content = script.queued.popleft()
            return Response(content, status_code=status, headers=headers)
        if script.down or script.random.random() < script.failure_rate:
            script.faults_given += 1
            status = 500 if script.down else 503
            return Response(b'{"error": {"message": "injected fault"}}', status_code=status)
        code = body["messages"][-1]["content"].split("Code:\n", 1)[1]
        answer = {
            "id": "chatcmpl-local",
            "object": "chat.completion",
            "model": body["model"],
            "choices": [
                {
                    "index": 0,
                    "finish_reason": "stop",
                    "message": {
                        "role": "assistant",
                        "content": orjson.dumps(model_answer(code)).decode(),
                    },
                }
            ],
        }
        return Response(orjson.dumps(answer), media_type="application/json")

    return app


class ChatCompletionsServer:
    """Runs the stand-in on 127.0.0.1 in a background thread."""

    def __init__(self) -> None:
        self.script = Script()
        self.port = free_port()
        config = uvicorn.Config(
            create_app(self.script), host="127.0.0.1", port=self.port, log_level="warning"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def __enter__(self) -> ChatCompletionsServer:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline:
                raise TimeoutError("chat-completions stand-in did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, *_: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)
