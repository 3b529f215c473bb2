// Interop fixture: an MCP server on the official TypeScript SDK v2
// (@modelcontextprotocol/server `createMcpHandler`, mounted on node:http with
// @modelcontextprotocol/node's `toNodeHandler`). One endpoint serves both
// eras the way the SDK does by default: 2026-07-28 per-request envelopes,
// and 2025 traffic through its stateless legacy fallback (no sessions, GET
// and DELETE answered 405). Binds 127.0.0.1 on a port chosen by the OS and
// prints "PORT <n>".
//
//   node ts2-server.mjs
//
// Tools: add (a + b, structured result), countdown (n progress
// notifications, then "countdown of n done"), confirm (2026-07-28 only: a
// multi-round-trip elicitation, answered with an InputRequiredResult until
// the retry carries an accepted `confirm` response).
import http from 'node:http';
import { McpServer, createMcpHandler, inputRequired, acceptedContent } from '@modelcontextprotocol/server';
import { toNodeHandler } from '@modelcontextprotocol/node';
import * as z from 'zod';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const text = (t) => ({ content: [{ type: 'text', text: t }] });

function factory() {
  const server = new McpServer({ name: 'ts2-interop', version: '1.0.0' });
  server.registerTool(
    'add',
    {
      description: 'a + b',
      inputSchema: z.object({ a: z.number(), b: z.number() }),
      outputSchema: z.object({ sum: z.number() }),
    },
    async ({ a, b }) => ({ ...text(String(a + b)), structuredContent: { sum: a + b } }),
  );
  server.registerTool(
    'countdown',
    { description: 'n progress notifications', inputSchema: z.object({ n: z.number().int() }) },
    async ({ n }, ctx) => {
      const token = ctx.mcpReq._meta?.progressToken;
      for (let i = 1; i <= n; i += 1) {
        if (token !== undefined) {
          await ctx.mcpReq.notify({ method: 'notifications/progress', params: { progressToken: token, progress: i, total: n } });
        }
        await sleep(20);
      }
      return text(`countdown of ${n} done`);
    },
  );
  server.registerTool(
    'confirm',
    { description: 'multi-round-trip elicitation (2026-07-28)', inputSchema: z.object({ action: z.string() }) },
    async ({ action }, ctx) => {
      const schema = z.object({ confirm: z.boolean() });
      const answer = acceptedContent(ctx.mcpReq.inputResponses, 'confirm', schema);
      if (answer === undefined) {
        return inputRequired({
          inputRequests: { confirm: inputRequired.elicit({ message: `Really ${action}?`, requestedSchema: schema }) },
        });
      }
      return text(answer.confirm ? `${action}: confirmed` : `${action}: declined`);
    },
  );
  return server;
}

const handler = toNodeHandler(createMcpHandler(factory));
const httpServer = http.createServer((req, res) => {
  if (new URL(req.url, 'http://127.0.0.1').pathname !== '/mcp') {
    res.writeHead(404).end();
    return;
  }
  handler(req, res).catch((e) => {
    console.error(e);
    if (!res.headersSent) res.writeHead(500);
    res.end();
  });
});
httpServer.listen(0, '127.0.0.1', () => console.log(`PORT ${httpServer.address().port}`));
const stop = () => httpServer.close(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
