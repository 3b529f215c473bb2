// The TypeScript SDK's Streamable HTTP server (stateful: one transport and
// one McpServer per session, the SDK's documented pattern) with the
// benchmark's two tools. Usage: node server.mjs 127.0.0.1:8003
import { createServer } from "node:http";
import { randomUUID } from "node:crypto";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import { isInitializeRequest } from "@modelcontextprotocol/sdk/types.js";
import { z } from "zod";

const [host, port] = (process.argv[2] ?? "127.0.0.1:8003").split(":");
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const micros = () => BigInt(Date.now()) * 1000n + BigInt(Math.floor((performance.now() % 1) * 1000));

function newServer() {
  const server = new McpServer({ name: "ts-bench", version: "1.0.0" });
  server.registerTool(
    "echo",
    { description: "Echo the text back.", inputSchema: { text: z.string() } },
    async ({ text }) => ({ content: [{ type: "text", text }] }),
  );
  server.registerTool(
    "countdown",
    {
      description: "n progress notifications interval_ms apart, then a result.",
      inputSchema: { n: z.number().int().optional(), interval_ms: z.number().int().optional(), stamp: z.boolean().optional() },
    },
    async ({ n = 5, interval_ms = 1000, stamp = false }, extra) => {
      const token = extra._meta?.progressToken;
      for (let i = 1; i <= n; i++) {
        if (i > 1) await sleep(interval_ms);
        if (token !== undefined) {
          // Wall-clock microseconds (ms resolution from Date.now(); the
          // sub-millisecond digits come from the monotonic clock's fraction
          // and are only approximate).
          const message = stamp ? `${n - i} left @${micros()}` : `${n - i} left`;
          await extra.sendNotification({
            method: "notifications/progress",
            params: { progressToken: token, progress: i, total: n, message },
          });
        }
      }
      return { content: [{ type: "text", text: `countdown of ${n} done` }] };
    },
  );
  return server;
}

const transports = new Map();

async function readJson(req) {
  const chunks = [];
  for await (const c of req) chunks.push(c);
  if (chunks.length === 0) return undefined;
  return JSON.parse(Buffer.concat(chunks).toString("utf8"));
}

const http = createServer(async (req, res) => {
  try {
    const sid = req.headers["mcp-session-id"];
    const body = req.method === "POST" ? await readJson(req) : undefined;
    let transport = sid ? transports.get(sid) : undefined;
    if (!transport) {
      if (sid || req.method !== "POST" || !isInitializeRequest(body)) {
        res.writeHead(sid ? 404 : 400, { "content-type": "application/json" });
        res.end(JSON.stringify({ jsonrpc: "2.0", id: null, error: { code: -32000, message: "no valid session" } }));
        return;
      }
      transport = new StreamableHTTPServerTransport({
        sessionIdGenerator: () => randomUUID(),
        onsessioninitialized: (id) => transports.set(id, transport),
      });
      transport.onclose = () => {
        if (transport.sessionId) transports.delete(transport.sessionId);
      };
      await newServer().connect(transport);
    }
    await transport.handleRequest(req, res, body);
  } catch (e) {
    if (!res.headersSent) {
      res.writeHead(400, { "content-type": "application/json" });
      res.end(JSON.stringify({ jsonrpc: "2.0", id: null, error: { code: -32700, message: String(e) } }));
    }
  }
});
http.on("connection", (s) => s.setNoDelay(true));
http.keepAliveTimeout = 60_000;
http.listen(Number(port), host, () => console.error(`ts-sdk server on http://${host}:${port}/mcp`));
