#!/usr/bin/env node
// The load generator of scripts/bench-questions.sh and bench-schedules.sh, for what oha cannot send: a different body
// and token on every request. Node's own http module, no packages. Not autocannon, which can vary
// requests too but is not open loop: each connection sends its per-second quota back to back at
// the start of every second, and its coordinated-omission correction takes a 1 ms interval
// (autocannon 9.0.0, lib/run.js: Math.ceil(1 / rate)).
//
//   node bench-load.mjs setup --api URL --couples N --out FILE
//       signs up and pairs N couples through the gateway; FILE gets both partners' access
//       tokens (carrying the couple), as a JSON array
//   node bench-load.mjs run --url URL --method GET|POST --rate R --secs S --connections C
//       --tokens FILE [--questions FILE --start K | --body FILE] --expect STATUS --out FILE
//       R requests/s for S seconds on at most C keep-alive connections. GET cycles through the
//       tokens; POST with --body sends that JSON body every time, cycling through the tokens;
//       POST with --questions answers: request k (counted from K) is user k mod U answering
//       question floor(k / U), so no (user, question) pair repeats while k < U x questions. Prints
//       "p50_ms p99_ms throughput errors lag_p99_ms" (errors: any status but STATUS, and failed
//       requests; lag: see below); FILE gets the details and `nextStart`, the K of the next run.
//
// Open loop, like oha -q with --latency-correction: request i is handed to the connection pool
// when it is due (start + i/R) whatever the earlier ones are doing, and its latency runs from
// then to the end of its response, so time spent waiting for a free connection (a slow server)
// counts and is not omitted. Node's timers fire on whole milliseconds, so a request is handed
// over up to about 1 ms after its due time; that lag is the generator's, not the server's, and
// is left out of the latency but reported: `dispatchLagMs` in FILE, and `fromDueMs`, the
// percentiles with it included.

import http from 'node:http';
import { readFileSync, writeFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';

const REQUEST_TIMEOUT_MS = 10_000;
/// A run stops this long after its last request was due, whatever is still open (counted as errors).
const RUN_GRACE_MS = 30_000;

function fail(message) {
    process.stderr.write(`bench-load: ${message}\n`);
    process.exit(1);
}

/// One request; resolves to {status, body} (body parsed when JSON) or rejects on a network error.
function call(agent, url, method, token, body) {
    return new Promise((resolve, reject) => {
        const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
        const headers = {};
        if (token) headers.authorization = `Bearer ${token}`;
        if (payload) {
            headers['content-type'] = 'application/json';
            headers['content-length'] = payload.length;
        }
        const req = http.request(url, { method, agent, headers, timeout: REQUEST_TIMEOUT_MS }, (res) => {
            const chunks = [];
            res.on('data', (c) => chunks.push(c));
            res.on('end', () => {
                const text = Buffer.concat(chunks).toString();
                let parsed = text;
                try {
                    parsed = JSON.parse(text);
                } catch {
                    // not JSON: keep the text for the error message
                }
                resolve({ status: res.statusCode, body: parsed });
            });
            res.on('error', reject);
        });
        req.on('timeout', () => req.destroy(new Error('timed out')));
        req.on('error', reject);
        req.end(payload);
    });
}

async function expectStatus(what, status, promise) {
    const res = await promise;
    if (res.status !== status) fail(`${what}: expected ${status}, got ${res.status}: ${JSON.stringify(res.body)}`);
    return res.body.data;
}

/// Signs up both partners, logs them in, pairs them and refreshes the code's creator's token so
/// that both tokens carry the couple.
async function makeCouple(agent, api, runId, i) {
    const password = 'bench-password-1';
    const [a, b] = ['a', 'b'].map((side) => `bench-${runId}-${i}${side}@example.com`);
    const signup = (email, gender) =>
        expectStatus(`signup ${email}`, 201, call(agent, `${api}/api/users/signup`, 'POST', null,
            { email, password, name: `Bench ${i}`, gender, birth: '1990-01-01' }));
    const login = (email) => expectStatus(`login ${email}`, 200, call(agent, `${api}/api/users/login`, 'POST', null, { email, password }));
    await Promise.all([signup(a, 'F'), signup(b, 'M')]);
    const [la, lb] = await Promise.all([login(a), login(b)]);
    const match = await expectStatus('match', 200, call(agent, `${api}/api/couples/match`, 'POST', la.accessToken, { name: `bench ${i}` }));
    const accepted = await expectStatus('accept', 200,
        call(agent, `${api}/api/couples/match/accept`, 'POST', lb.accessToken, { matchingCode: match.matchCode }));
    const refreshed = await expectStatus('refresh', 200,
        call(agent, `${api}/api/users/token/refresh`, 'POST', null, { refreshToken: la.refreshToken }));
    return [refreshed.accessToken, accepted.accessToken];
}

async function setup(opts) {
    const couples = Number(opts.couples);
    const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
    const runId = Date.now().toString(36);
    const tokens = new Array(couples);
    let next = 0;
    // A few couples at once: password hashing is the cost, and user-couple queues it.
    const workers = Array.from({ length: Math.min(4, couples) }, async () => {
        while (next < couples) {
            const i = next++;
            tokens[i] = await makeCouple(agent, opts.api, runId, i);
        }
    });
    await Promise.all(workers);
    agent.destroy();
    writeFileSync(opts.out, JSON.stringify(tokens.flat()));
}

/// Nearest-rank percentile of a sorted array.
function percentile(sorted, p) {
    if (sorted.length === 0) return 0;
    return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

async function run(opts) {
    const rate = Number(opts.rate);
    const total = Math.round(rate * Number(opts.secs));
    const expect = Number(opts.expect);
    const tokens = JSON.parse(readFileSync(opts.tokens, 'utf8'));
    // POST with --body sends that body every time; POST without it answers questions.
    const fixedBody = opts.body === undefined ? undefined : JSON.parse(readFileSync(opts.body, 'utf8'));
    const post = opts.method === 'POST' && fixedBody === undefined;
    const questions = post ? JSON.parse(readFileSync(opts.questions, 'utf8')) : [];
    const start = Number(opts.start ?? 0);
    if (post && start + total > tokens.length * questions.length) {
        fail(`${total} answers from ${start} need more than ${tokens.length} users x ${questions.length} questions`);
    }
    // Built up front, so the timer loop only sends.
    const requests = Array.from({ length: total }, (_, i) => {
        const k = start + i;
        if (!post) return { token: tokens[k % tokens.length], body: fixedBody };
        const question = questions[Math.floor(k / tokens.length)];
        return { token: tokens[k % tokens.length], body: { questionId: question, selectedOption: k % 2 ? '1' : '2' } };
    });

    const agent = new http.Agent({ keepAlive: true, maxSockets: Number(opts.connections) });
    const latencies = new Float64Array(total);
    const fromDue = new Float64Array(total);
    const lags = new Float64Array(total);
    const statuses = {};
    let completed = 0;
    let failed = 0;
    let sent = 0;
    let lastEnd = 0;
    const firstError = [];
    const interval = 1000 / rate;
    const t0 = performance.now() + 20;

    await new Promise((resolve) => {
        const deadline = setTimeout(resolve, Number(opts.secs) * 1000 + RUN_GRACE_MS);
        const finish = () => {
            if (completed + failed === total) {
                clearTimeout(deadline);
                resolve();
            }
        };
        const send = (i, due) => {
            const sentAt = performance.now();
            lags[i] = sentAt - due;
            call(agent, opts.url, opts.method, requests[i].token, requests[i].body).then(
                (res) => {
                    lastEnd = performance.now();
                    fromDue[completed] = lastEnd - due;
                    latencies[completed++] = lastEnd - sentAt;
                    statuses[res.status] = (statuses[res.status] ?? 0) + 1;
                    if (res.status !== expect && firstError.length < 3) firstError.push(`${res.status} ${JSON.stringify(res.body)}`);
                    finish();
                },
                (err) => {
                    failed++;
                    if (firstError.length < 3) firstError.push(err.message);
                    finish();
                },
            );
        };
        const tick = () => {
            const now = performance.now();
            while (sent < total && t0 + sent * interval <= now) {
                send(sent, t0 + sent * interval);
                sent++;
            }
            if (sent < total) setTimeout(tick, Math.max(0, t0 + sent * interval - performance.now()));
        };
        setTimeout(tick, 20);
    });
    agent.destroy();

    // Copied now: requests the deadline cut off may still settle while the results are written.
    const done = completed;
    const sorted = latencies.slice(0, done).sort();
    const sortedFromDue = fromDue.slice(0, done).sort();
    const sortedLags = lags.slice().sort();
    const ok = statuses[expect] ?? 0;
    const result = {
        requests: total,
        completed,
        failed,
        unfinished: total - completed - failed,
        statusCodes: statuses,
        errors: total - ok,
        p50Ms: percentile(sorted, 50),
        p99Ms: percentile(sorted, 99),
        maxMs: sorted.length ? sorted[sorted.length - 1] : 0,
        requestsPerSec: done / ((lastEnd - t0) / 1000),
        dispatchLagMs: { p50: percentile(sortedLags, 50), p99: percentile(sortedLags, 99) },
        fromDueMs: { p50: percentile(sortedFromDue, 50), p99: percentile(sortedFromDue, 99) },
        firstErrors: firstError,
        nextStart: start + total,
    };
    writeFileSync(opts.out, JSON.stringify(result, null, 2));
    if (firstError.length) process.stderr.write(`bench-load: first errors: ${firstError.join(' | ')}\n`);
    process.stdout.write(`${result.p50Ms.toFixed(3)} ${result.p99Ms.toFixed(3)} ${result.requestsPerSec.toFixed(0)} ${result.errors} ${result.dispatchLagMs.p99.toFixed(2)}\n`);
    // Requests cut off by the deadline would otherwise keep the agent connecting.
    process.exit(0);
}

const { positionals, values } = parseArgs({
    allowPositionals: true,
    options: Object.fromEntries(
        ['api', 'couples', 'out', 'url', 'method', 'rate', 'secs', 'connections', 'tokens', 'questions', 'start', 'expect', 'body'].map((name) => [
            name,
            { type: 'string' },
        ]),
    ),
});
const required = { setup: ['api', 'couples', 'out'], run: ['url', 'method', 'rate', 'secs', 'connections', 'tokens', 'expect', 'out'] };
const command = positionals[0];
if (!required[command]) fail('usage: bench-load.mjs setup|run [options] (see the comment at the top)');
for (const name of required[command]) if (values[name] === undefined) fail(`${command} needs --${name}`);
if (command === 'run' && values.method === 'POST' && values.questions === undefined && values.body === undefined) {
    fail('POST needs --questions (answers) or --body (one JSON body for every request)');
}
await (command === 'setup' ? setup(values) : run(values));
