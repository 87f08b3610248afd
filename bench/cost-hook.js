// @ts-check
// Loaded with `node --import ./bench/cost-hook.js bin/rehearse.js ...` (bench rows 12 and 13): when the process
// exits, write one JSON line to the file named by REHEARSE_BENCH_COST_FILE with rehearse's own cost:
//   ownCpuUs     user + system CPU of this node process (µs); flow runs are the worker's, never counted
//   childTicks   CPU of the children it waited for (`uv run prefect`, Chromium), in clock ticks (getconf CLK_TCK)
//   maxRssKB     peak resident set size of this process
//   requests     every fetch call (resends included), and per route `METHOD /path` (uuids as <id>):
//                calls and response bytes (content-length; `noLength` counts answers without one)
// Counting fetch works because rehearse uses the global fetch when no proxy is set (the bench drops the
// proxy variables for measured commands).
import fs from 'node:fs';

const file = process.env.REHEARSE_BENCH_COST_FILE;
const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g;

if (file) {
  /** @type {Record<string, {calls: number, bytes: number, noLength: number}>} */
  const routes = {};
  let requests = 0;
  const original = globalThis.fetch;
  /** @type {typeof fetch} */
  const counted = async (input, init) => {
    requests += 1;
    let key = '?';
    try {
      const url = new URL(typeof input === 'string' || input instanceof URL ? String(input) : input.url);
      const method = (init?.method ?? (typeof input === 'object' && 'method' in input ? input.method : 'GET')) || 'GET';
      key = `${method.toUpperCase()} ${url.pathname.replace(UUID, '<id>')}`;
    } catch {
      // an odd argument is counted under '?'
    }
    const route = routes[key] ?? { calls: 0, bytes: 0, noLength: 0 };
    routes[key] = route;
    route.calls += 1;
    const response = await original(input, init);
    const length = response.headers.get('content-length');
    if (length === null) route.noLength += 1;
    else route.bytes += Number(length) || 0;
    return response;
  };
  globalThis.fetch = counted;
  process.on('exit', () => {
    try {
      const usage = process.resourceUsage();
      // /proc/self/stat: fields after the command name's closing ')' start at field 3; cutime and cstime are 16 and 17.
      const stat = fs.readFileSync('/proc/self/stat', 'utf8');
      const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const childTicks = Number(rest[13]) + Number(rest[14]);
      const cost = {
        ownCpuUs: usage.userCPUTime + usage.systemCPUTime,
        childTicks: Number.isFinite(childTicks) ? childTicks : null,
        maxRssKB: usage.maxRSS,
        requests,
        routes,
      };
      fs.writeFileSync(file, `${JSON.stringify(cost)}\n`);
    } catch {
      // a benchmark aid must never change how the measured command ends
    }
  });
}
