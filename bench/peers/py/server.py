"""The Python SDK's Streamable HTTP server (stateful, its defaults) under
uvicorn, with the benchmark's two tools.

Usage: python server.py 127.0.0.1:8004 [--max-sessions N]
"""

import asyncio
import logging
import sys
import time

import uvicorn
from mcp.server.mcpserver import Context, MCPServer

mcp = MCPServer("py-bench")


@mcp.tool()
def echo(text: str) -> str:
    """Echo the text back."""
    return text


@mcp.tool()
async def countdown(ctx: Context, n: int = 5, interval_ms: int = 1000, stamp: bool = False) -> str:
    """Send n progress notifications interval_ms apart, then answer."""
    for i in range(1, n + 1):
        if i > 1:
            await asyncio.sleep(interval_ms / 1000)
        msg = f"{n - i} left"
        if stamp:
            # The emit time, wall-clock microseconds (the delivery delay).
            msg += f" @{time.time_ns() // 1000}"
        await ctx.report_progress(i, n, msg)
    return f"countdown of {n} done"


def main() -> None:
    host, port = (sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1:8004").split(":")
    kwargs = {}
    if "--max-sessions" in sys.argv:
        kwargs["max_sessions"] = int(sys.argv[sys.argv.index("--max-sessions") + 1])
    app = mcp.streamable_http_app(host=host, **kwargs)
    # The SDK logs every new session at INFO: not part of what is measured.
    logging.getLogger("mcp").setLevel(logging.WARNING)
    logging.disable(logging.INFO)
    print(f"py-sdk server on http://{host}:{port}/mcp", file=sys.stderr)
    uvicorn.run(app, host=host, port=int(port), log_level="warning")


if __name__ == "__main__":
    main()
