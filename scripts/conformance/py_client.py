"""Interop check: the official Python SDK client (PyPI `mcp`, pinned in
requirements.txt) against the conformance fixture.

    python py_client.py URL

Each check prints `ok` or `FAIL` with what it saw; the exit code is the
number of failed checks (0: all passed). The URL is the last argument.
"""

import asyncio
import json
import sys
import warnings

import mcp_types as types
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client

SAMPLING_REPLY = "forty-two, from the Python client's sampling callback"

results: list[tuple[str, bool, str]] = []


def check(name: str, ok: bool, seen) -> None:
    results.append((name, ok, seen))
    print(f"{'ok  ' if ok else 'FAIL'} {name}: {seen}", flush=True)


def texts(result) -> list[str]:
    return [c.text for c in result.content if getattr(c, "type", None) == "text"]


async def run(url: str) -> None:
    sampled: list[str] = []
    logs: list[str] = []
    elicited: list[str] = []

    async def on_sampling(_ctx, params: types.CreateMessageRequestParams):
        sampled.append(params.messages[0].content.text)
        return types.CreateMessageResult(
            role="assistant",
            content=types.TextContent(type="text", text=SAMPLING_REPLY),
            model="python-sdk-check",
            stop_reason="endTurn",
        )

    async def on_elicitation(_ctx, params: types.ElicitRequestParams):
        elicited.append(params.message)
        return types.ElicitResult(action="accept", content={"username": "py", "email": "py@example.com"})

    async def on_log(params: types.LoggingMessageNotificationParams):
        logs.append(str(params.data))

    async with streamable_http_client(url) as (read, write):
        async with ClientSession(
            read,
            write,
            sampling_callback=on_sampling,
            elicitation_callback=on_elicitation,
            logging_callback=on_log,
        ) as session:
            init = await session.initialize()
            caps = init.capabilities
            check(
                "initialize",
                init.protocol_version == "2025-11-25"
                and init.server_info.name == "streamable-conformance-fixture"
                and all(x is not None for x in (caps.tools, caps.resources, caps.prompts, caps.logging)),
                f"{init.server_info.name} {init.server_info.version}, protocol {init.protocol_version}",
            )

            tools = {t.name: t for t in (await session.list_tools()).tools}
            wanted = {"add", "test_simple_text", "test_tool_with_progress", "test_sampling", "test_elicitation"}
            check("tools/list", wanted <= tools.keys(), f"{len(tools)} tools, missing {sorted(wanted - tools.keys())}")

            progress: list[tuple[float, float | None]] = []

            async def on_progress(p: float, total: float | None, _message: str | None) -> None:
                progress.append((p, total))

            r = await session.call_tool("test_tool_with_progress", {}, progress_callback=on_progress)
            check(
                "tools/call with a progress callback",
                not r.is_error and progress == [(0, 100), (50, 100), (100, 100)],
                f"progress {progress}, result {texts(r)}",
            )

            r = await session.call_tool("test_sampling", {"prompt": "What is six times seven?"})
            check(
                "tools/call with a sampling callback",
                not r.is_error
                and sampled == ["What is six times seven?"]
                and texts(r) == [f"LLM response: {SAMPLING_REPLY}"],
                f"callback saw {sampled}, result {texts(r)}",
            )

            r = await session.call_tool("test_elicitation", {"message": "Who are you?"})
            check(
                "tools/call with an elicitation callback",
                not r.is_error and elicited == ["Who are you?"] and "action=accept" in texts(r)[0]
                and "py@example.com" in texts(r)[0],
                f"callback saw {elicited}, result {texts(r)}",
            )

            with warnings.catch_warnings():  # logging is deprecated only at 2026-07-28
                warnings.simplefilter("ignore")
                await session.set_logging_level("debug")
            r = await session.call_tool("test_tool_with_logging", {})
            check("tools/call with log messages", not r.is_error and len(logs) == 3, f"logs {logs}")

            r = await session.call_tool("add", {"a": 2, "b": 40})
            check(
                "tools/call with arguments (structured result)",
                not r.is_error and r.structured_content == {"sum": 42},
                f"structured {r.structured_content}",
            )

            r = await session.call_tool("test_error_handling", {})
            check("tools/call returning isError", r.is_error is True, f"isError {r.is_error}, {texts(r)}")

            rr = await session.read_resource("test://template/7/data")
            body = json.loads(rr.contents[0].text)
            check("resources/read (template)", body.get("id") == "7", f"{body}")

            pr = await session.get_prompt("test_prompt_with_arguments", {"arg1": "a1", "arg2": "b2"})
            check(
                "prompts/get with arguments",
                "arg1='a1', arg2='b2'" in pr.messages[0].content.text,
                pr.messages[0].content.text,
            )


def main() -> int:
    url = sys.argv[-1]
    try:
        asyncio.run(asyncio.wait_for(run(url), timeout=60))
    except Exception as e:  # a transport or protocol error is a failed check too
        check("session", False, f"{type(e).__name__}: {e}")
    failed = sum(1 for _, ok, _ in results if not ok)
    print(f"python client: {len(results) - failed}/{len(results)} checks ok")
    return min(failed, 100)


if __name__ == "__main__":
    sys.exit(main())
