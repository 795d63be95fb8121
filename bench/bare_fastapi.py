"""The baseline for bench_bus_overhead: a bare FastAPI POST with the gateway's model.

Same request model (so the same validation work), an answer of the same
shape built in-process, served by uvicorn the same way as the gateway.
"""

import sys
import uuid
from datetime import UTC, datetime

import uvicorn
from fastapi import FastAPI

from revue.gateway.validation import CodeAnalysisRequest

app = FastAPI()


@app.post("/api/v1/analyze")
async def analyze(body: CodeAnalysisRequest) -> dict:
    now = datetime.now(UTC).isoformat()
    return {
        "id": str(uuid.uuid4()),
        "status": "succeeded",
        "mode": "sync",
        "priority": "normal",
        "language": body.language,
        "created_at": now,
        "completed_at": now,
        "result": {
            "analyzer": "noop",
            "analyzer_version": "0",
            "language": body.language,
            "findings": [],
            "truncated": False,
        },
        "error": None,
    }


if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", access_log=False)
