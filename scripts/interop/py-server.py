"""Interop fixture: an MCP server on the official Python SDK (`mcp` 2.3.0,
`MCPServer.streamable_http_app()` under uvicorn), stateful sessions, an
in-memory event store (resumable streams), retry 200 ms. Binds 127.0.0.1 on
a port chosen by the OS and prints "PORT <n>".

    python py-server.py

Tools (same as ts-server.mjs): add, countdown (progress), ask (sampling
request on the call's stream), drop_and_finish (closes the call's SSE stream
after the first progress; the client must resume with GET + Last-Event-ID).
"""

import asyncio
import socket
import sys

import uvicorn
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.streamable_http import EventMessage, EventStore
from mcp.types import SamplingMessage, TextContent


class MemoryEventStore(EventStore):
    def __init__(self) -> None:
        self.events: list[tuple[str, str, object]] = []  # (event id, stream id, message)
        self.seq = 0

    async def store_event(self, stream_id, message):
        self.seq += 1
        event_id = f"{stream_id}_{self.seq}"
        self.events.append((event_id, stream_id, message))
        return event_id

    async def replay_events_after(self, last_event_id, send_callback):
        at = next((i for i, e in enumerate(self.events) if e[0] == last_event_id), None)
        if at is None:
            return None
        stream = self.events[at][1]
        for event_id, stream_id, message in self.events[at + 1 :]:
            if stream_id == stream and message is not None:
                await send_callback(EventMessage(message, event_id))
        return stream


mcp = MCPServer("py-interop", version="1.0.0")


@mcp.tool(description="a + b")
def add(a: float, b: float) -> str:
    return str(a + b)


@mcp.tool(description="n progress notifications")
async def countdown(ctx: Context, n: int = 3) -> str:
    for i in range(1, n + 1):
        await ctx.report_progress(i, n)
        await asyncio.sleep(0.02)
    return f"countdown of {n} done"


@mcp.tool(description="sampling round trip")
async def ask(question: str, ctx: Context) -> str:
    result = await ctx.session.create_message(
        [SamplingMessage(role="user", content=TextContent(type="text", text=question))],
        max_tokens=10,
        related_request_id=ctx.request_id,
    )
    return f"sampled: {getattr(result.content, 'text', result.content)}"


@mcp.tool(description="closes its SSE stream mid-call")
async def drop_and_finish(ctx: Context, n: int = 4) -> str:
    await ctx.report_progress(1, n)
    await asyncio.sleep(0.05)
    await ctx.close_sse_stream()
    for i in range(2, n + 1):
        await asyncio.sleep(0.05)
        await ctx.report_progress(i, n)
    return "resumed after drop"


def main() -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    # Listening before the port is announced: early connections wait in the
    # backlog until uvicorn accepts them.
    sock.listen(128)
    print(f"PORT {sock.getsockname()[1]}", flush=True)
    app = mcp.streamable_http_app(host="127.0.0.1", event_store=MemoryEventStore(), retry_interval=200)
    config = uvicorn.Config(app, log_level="warning")
    asyncio.run(uvicorn.Server(config).serve(sockets=[sock]))


if __name__ == "__main__":
    sys.exit(main())
