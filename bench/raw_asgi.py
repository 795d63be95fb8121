"""The floor under every Python HTTP figure here: uvicorn with an ASGI app that does nothing.

It reads the request and sends a fixed answer of the analyze endpoint's
shape, served by uvicorn the same way as the gateway and the bare FastAPI
app. No framework, no validation: what is left is uvicorn, httptools and
the event loop, and the latency wrk measures for it at 64 connections bounds
what any Python server on this machine can show.
"""

import sys

import orjson
import uvicorn

ANSWER = orjson.dumps(
    {
        "id": "00000000-0000-4000-8000-000000000000",
        "status": "succeeded",
        "mode": "sync",
        "priority": "normal",
        "language": "python",
        "created_at": "2026-01-01T00:00:00Z",
        "completed_at": "2026-01-01T00:00:00Z",
        "result": {"analyzer": "noop", "analyzer_version": "0", "findings": []},
        "error": None,
    }
)
HEADERS = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(ANSWER))]


async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    while (await receive()).get("more_body", False):
        pass
    await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
    await send({"type": "http.response.body", "body": ANSWER})


if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", access_log=False)
