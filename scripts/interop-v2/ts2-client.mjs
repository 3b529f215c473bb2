// Interop: the official TypeScript SDK v2 client (@modelcontextprotocol/client)
// against our server (the `conformance` example), in one negotiation mode.
//
//   node ts2-client.mjs MODE URL       MODE: legacy | auto | pin
//
// legacy: the plain 2025 `initialize` handshake; auto: probe with
// `server/discover` and speak 2026-07-28 when the server offers it; pin:
// 2026-07-28 or fail. Steps: the negotiated era, tools/list (every tool the
// fixture registers, schemas accepted by the SDK's validator, caching hints
// where the era has them), tools/call `add` (structured result), a call with
// progress (0, 50, 100 of 100), and one elicitation: at 2026-07-28 a
// multi-round-trip call (`test_input_required_result_elicitation` answers
// with an InputRequiredResult, the SDK fulfils it through the same
// elicitation handler and retries with the requestState), in the legacy era
// the server-to-client request of `test_elicitation`. Prints one JSON line
// per step; exit status 0 when every step passed, 1 otherwise.
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';

const [mode, url] = process.argv.slice(2);
if (!['legacy', 'auto', 'pin'].includes(mode) || !url) {
  console.error('usage: node ts2-client.mjs legacy|auto|pin URL');
  process.exit(2);
}
const negotiation = { legacy: { mode: 'legacy' }, auto: { mode: 'auto' }, pin: { mode: { pin: '2026-07-28' } } }[mode];

let failures = 0;
function step(name, ok, detail) {
  console.log(JSON.stringify({ mode, step: name, ok, detail }));
  if (!ok) failures += 1;
}
async function attempt(name, fn) {
  try {
    await fn();
  } catch (e) {
    step(name, false, String(e?.stack ?? e));
  }
}

const elicited = [];
const client = new Client(
  { name: 'ts2-interop', version: '1.0.0' },
  { capabilities: { elicitation: { form: {} } }, versionNegotiation: negotiation },
);
client.setRequestHandler('elicitation/create', async (request) => {
  elicited.push(request.params.message);
  const props = request.params.requestedSchema?.properties ?? {};
  const content = {};
  for (const [key, schema] of Object.entries(props)) {
    content[key] = schema.type === 'number' || schema.type === 'integer' ? 7 : schema.type === 'boolean' ? true : 'Alice';
  }
  return { action: 'accept', content };
});

const transport = new StreamableHTTPClientTransport(new URL(url));
await client.connect(transport);
const version = client.getNegotiatedProtocolVersion?.() ?? transport.protocolVersion;
const modern = mode !== 'legacy';
step('negotiated era', modern ? version === '2026-07-28' : version !== '2026-07-28', { version });

await attempt('tools/list', async () => {
  const r = await client.listTools();
  const names = r.tools.map((t) => t.name);
  const wanted = ['add', 'test_simple_text', 'test_tool_with_progress', modern ? 'test_input_required_result_elicitation' : 'test_elicitation'];
  step('tools/list', wanted.every((n) => names.includes(n)), { count: names.length, missing: wanted.filter((n) => !names.includes(n)) });
});

await attempt('tools/call add', async () => {
  const r = await client.callTool({ name: 'add', arguments: { a: 2, b: 40 } });
  step('tools/call add', r.structuredContent?.sum === 42, r);
});

await attempt('tools/call with progress', async () => {
  const seen = [];
  const r = await client.callTool(
    { name: 'test_tool_with_progress', arguments: {} },
    { onprogress: (p) => seen.push(p.progress) },
  );
  step('tools/call with progress', !r.isError && JSON.stringify(seen) === '[0,50,100]', { progress: seen, result: r });
});

await attempt('elicitation', async () => {
  const name = modern ? 'test_input_required_result_elicitation' : 'test_elicitation';
  const args = modern ? {} : { message: 'Who are you?' };
  const before = elicited.length;
  const r = await client.callTool({ name, arguments: args });
  const text = JSON.stringify(r.content ?? []);
  step(modern ? 'multi-round-trip elicitation' : 'server-to-client elicitation',
    !r.isError && elicited.length === before + 1 && text.includes('Alice'),
    { elicitations: elicited.length - before, result: r });
});

await client.close();
console.log(JSON.stringify({ mode, done: true, failures }));
process.exit(failures === 0 ? 0 : 1);
