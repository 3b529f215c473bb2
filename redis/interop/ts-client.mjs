// The official TypeScript SDK v2 client (@modelcontextprotocol/client)
// against three streamable instances on one Redis behind the round-robin
// proxy (redis/interop.sh): a legacy (2025) session whose requests land on
// every instance, echo calls, and a countdown with progress, every progress
// notification once and in order, then the result.
//
//   node ts-client.mjs URL
//
// Prints one JSON line per step; exit status 0 when every step passed.
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';

const [url] = process.argv.slice(2);
let failures = 0;
function step(name, ok, detail) {
  console.log(JSON.stringify({ step: name, ok, detail }));
  if (!ok) failures += 1;
}

const client = new Client({ name: 'ts2-redis', version: '1.0.0' }, { versionNegotiation: { mode: 'legacy' } });
const transport = new StreamableHTTPClientTransport(new URL(url));
try {
  await client.connect(transport);
  step('initialize', Boolean(transport.sessionId), { session: transport.sessionId });
  for (let i = 0; i < 6; i++) {
    const r = await client.callTool({ name: 'echo', arguments: { text: `hi ${i}` } });
    step(`echo ${i}`, r.content?.[0]?.text === `hi ${i}`, r.content);
  }
  const seen = [];
  const r = await client.callTool(
    { name: 'countdown', arguments: { n: 5, interval_ms: 50 } },
    { onprogress: (p) => seen.push(p.progress), timeout: 20000 },
  );
  step('countdown', r.content?.[0]?.text === 'countdown of 5 done', r.content);
  step('progress exactly once, in order', JSON.stringify(seen) === '[1,2,3,4,5]', seen);
  await transport.terminateSession();
  step('DELETE', true);
  await client.close();
} catch (e) {
  step('run', false, String(e?.stack ?? e));
}
process.exit(failures === 0 ? 0 : 1);
