// Interop fixture: an MCP server on the official TypeScript SDK
// (@modelcontextprotocol/sdk, low-level Server + StreamableHTTPServerTransport),
// stateful sessions, an in-memory event store (resumable streams), retry 200 ms.
// Binds 127.0.0.1 on a port chosen by the OS and prints "PORT <n>".
//
//   node ts-server.mjs
//
// Tools (same as py-server.py): add, countdown (progress), ask (sampling
// request on the call's stream), drop_and_finish (closes the call's SSE
// stream after the first progress; the client must resume with GET +
// Last-Event-ID to get the rest).
import http from 'node:http';
import { randomUUID } from 'node:crypto';
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import {
  CallToolRequestSchema, ListToolsRequestSchema, CreateMessageResultSchema, isInitializeRequest,
} from '@modelcontextprotocol/sdk/types.js';

class MemoryEventStore {
  constructor() { this.events = []; this.seq = 0; }
  async storeEvent(streamId, message) {
    const id = `${streamId}_${++this.seq}`;
    this.events.push({ id, streamId, message });
    return id;
  }
  async getStreamIdForEventId(eventId) {
    return this.events.find((e) => e.id === eventId)?.streamId;
  }
  async replayEventsAfter(lastEventId, { send }) {
    const at = this.events.findIndex((e) => e.id === lastEventId);
    if (at < 0) return '';
    const { streamId } = this.events[at];
    for (const e of this.events.slice(at + 1)) {
      if (e.streamId === streamId && e.message) await send(e.id, e.message);
    }
    return streamId;
  }
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const text = (t) => ({ content: [{ type: 'text', text: t }] });

function newServer() {
  const server = new Server({ name: 'ts-interop', version: '1.0.0' }, { capabilities: { tools: {} } });
  server.setRequestHandler(ListToolsRequestSchema, async () => ({
    tools: [
      { name: 'add', description: 'a + b', inputSchema: { type: 'object', properties: { a: { type: 'number' }, b: { type: 'number' } }, required: ['a', 'b'] } },
      { name: 'countdown', description: 'n progress notifications', inputSchema: { type: 'object', properties: { n: { type: 'integer' } } } },
      { name: 'ask', description: 'sampling round trip', inputSchema: { type: 'object', properties: { question: { type: 'string' } } } },
      { name: 'drop_and_finish', description: 'closes its SSE stream mid-call', inputSchema: { type: 'object', properties: { n: { type: 'integer' } } } },
    ],
  }));
  server.setRequestHandler(CallToolRequestSchema, async (req, extra) => {
    const args = req.params.arguments ?? {};
    const token = req.params._meta?.progressToken;
    const progress = async (i, n) => {
      if (token !== undefined) {
        await extra.sendNotification({ method: 'notifications/progress', params: { progressToken: token, progress: i, total: n } });
      }
    };
    switch (req.params.name) {
      case 'add':
        return text(String(args.a + args.b));
      case 'countdown': {
        const n = args.n ?? 3;
        for (let i = 1; i <= n; i++) { await progress(i, n); await sleep(20); }
        return text(`countdown of ${n} done`);
      }
      case 'ask': {
        const r = await extra.sendRequest({
          method: 'sampling/createMessage',
          params: { messages: [{ role: 'user', content: { type: 'text', text: args.question ?? '' } }], maxTokens: 10 },
        }, CreateMessageResultSchema);
        return text(`sampled: ${r.content.text}`);
      }
      case 'drop_and_finish': {
        const n = args.n ?? 4;
        await progress(1, n);
        await sleep(50);
        if (!extra.closeSSEStream) throw new Error('closeSSEStream unavailable (client below 2025-11-25?)');
        extra.closeSSEStream();
        for (let i = 2; i <= n; i++) { await sleep(50); await progress(i, n); }
        return text('resumed after drop');
      }
      default:
        throw new Error(`unknown tool ${req.params.name}`);
    }
  });
  return server;
}

const transports = new Map();
const httpServer = http.createServer(async (req, res) => {
  try {
    let body;
    if (req.method === 'POST') {
      const chunks = [];
      for await (const c of req) chunks.push(c);
      body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    }
    const sid = req.headers['mcp-session-id'];
    let transport = sid ? transports.get(sid) : undefined;
    if (!transport) {
      if (sid) { res.writeHead(404).end(); return; }
      if (req.method !== 'POST' || !isInitializeRequest(body)) {
        res.writeHead(400, { 'content-type': 'application/json' })
          .end(JSON.stringify({ jsonrpc: '2.0', error: { code: -32000, message: 'no session' }, id: null }));
        return;
      }
      transport = new StreamableHTTPServerTransport({
        sessionIdGenerator: () => randomUUID(),
        eventStore: new MemoryEventStore(),
        retryInterval: 200,
        onsessioninitialized: (id) => transports.set(id, transport),
      });
      transport.onclose = () => { if (transport.sessionId) transports.delete(transport.sessionId); };
      await newServer().connect(transport);
    }
    await transport.handleRequest(req, res, body);
  } catch (e) {
    console.error(e);
    if (!res.headersSent) res.writeHead(500).end();
  }
});
httpServer.listen(0, '127.0.0.1', () => {
  console.log(`PORT ${httpServer.address().port}`);
});
