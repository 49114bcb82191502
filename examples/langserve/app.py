"""A reference LangServe app: the chain chat-webhook's `langserve` provider kind talks to.

Run it from the venv scripts/setup makes (.tools/langserve-venv) or any venv with
requirements.txt installed:

    HOST=127.0.0.1 PORT=8000 CHAIN=echo python app.py

It serves LangServe's routes at the root: `POST /invoke`, `POST /stream` (Server-Sent
Events `metadata`, `data`, `end`, `error`), `POST /batch`, `GET /input_schema`, ...

CHAIN picks the chain (all deterministic, no model weights, no network):
- `echo` (default): answers the caller's last human message as a plain string,
  "langserve says: <message>"; `/stream` sends it in word-sized chunks.
- `messages`: the same text as an AI message (`{"type": "ai", "content": ...}`).
- `fixed`: langchain-core's GenericFakeChatModel, answering FIXED_ANSWER every time
  (it streams token by token, as a real chat model does).
- `fail`: raises, so `/invoke` answers 500 and `/stream` an `error` event.

Whatever the shape of the input - a LangChain messages list, a plain string, or a dict -
the echo chains find the user's message in it (a dict's key is INPUT_KEY, default `input`).
Replace `build_chain()` with your own chain (a prompt | your model) to serve a real LLM.
"""

from __future__ import annotations

import itertools
import os
from typing import Any, AsyncIterator, Iterator

import uvicorn
from fastapi import FastAPI
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.runnables import RunnableGenerator, RunnableLambda
from langserve import add_routes

INPUT_KEY = os.environ.get("INPUT_KEY", "input")
FIXED_ANSWER = os.environ.get("FIXED_ANSWER", "Hello from the fixed fake model.")


def user_text(value: Any) -> str:
    """The user's message in `value`: a string, a dict (INPUT_KEY), or a messages list."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        if INPUT_KEY in value:
            return user_text(value[INPUT_KEY])
        if value.get("type") in ("human", "user") or value.get("role") == "user":
            return str(value.get("content", ""))
        return ""
    if isinstance(value, BaseMessage):
        return value.content if isinstance(value.content, str) else str(value.content)
    if isinstance(value, (list, tuple)):
        for m in reversed(value):
            kind = m.type if isinstance(m, BaseMessage) else (m.get("type") or m.get("role")) if isinstance(m, dict) else None
            if kind in ("human", "user"):
                return user_text(m if isinstance(m, BaseMessage) else m.get("content", ""))
        return ""
    return str(value)


def answer(value: Any) -> str:
    return f"langserve says: {user_text(value)}"


def words(text: str) -> list[str]:
    """`text` in chunks that join back to it exactly."""
    parts = text.split(" ")
    return [p if i == len(parts) - 1 else p + " " for i, p in enumerate(parts)]


def fail(_value: Any) -> str:
    raise RuntimeError("this chain always fails (CHAIN=fail)")


def streaming(make_chunk):
    """A runnable that answers each input with `answer(input)` in word-sized chunks made
    by `make_chunk` (sync and async: LangServe runs chains with the async API)."""

    def transform(inputs: Iterator[Any]) -> Iterator[Any]:
        for value in inputs:
            for w in words(answer(value)):
                yield make_chunk(w)

    async def atransform(inputs: AsyncIterator[Any]) -> AsyncIterator[Any]:
        async for value in inputs:
            for w in words(answer(value)):
                yield make_chunk(w)

    return RunnableGenerator(transform, atransform)


def build_chain(kind: str):
    if kind == "echo":
        return streaming(str)
    if kind == "messages":
        return streaming(lambda w: AIMessageChunk(content=w))
    if kind == "fixed":
        return GenericFakeChatModel(messages=itertools.cycle([AIMessage(content=FIXED_ANSWER)]))
    if kind == "fail":
        return RunnableLambda(fail)
    raise SystemExit(f"CHAIN must be echo, messages, fixed or fail (got {kind!r})")


def create_app(kind: str) -> FastAPI:
    app = FastAPI(title="edge-workers LangServe example", version="1.0")

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok", "chain": kind}

    add_routes(app, build_chain(kind), path="")
    return app


if __name__ == "__main__":
    chain = os.environ.get("CHAIN", "echo")
    uvicorn.run(
        create_app(chain),
        host=os.environ.get("HOST", "127.0.0.1"),
        port=int(os.environ.get("PORT", "8000")),
        log_level=os.environ.get("LOG_LEVEL", "warning"),
    )
