// A web page's client of `hearth serve` over gRPC-Web, with a real gRPC-Web
// client library: @connectrpc/connect-web's gRPC-Web transport. The schema is
// not generated code: the page loads the API's descriptors (a
// FileDescriptorSet of pb/*.proto, served by the test) into a registry, so it
// cannot drift from the API.
//
// Bundled by esbuild and loaded by headless Chromium from a page the test
// serves (tests/browser_test.go). The page fetches /config.json
// ({grpcweb, token}), creates a session with the root token, listens to the
// session's events, runs commands and checks their events arrive in command
// order, then creates a space and an object and reads the object back. It reports {ok, steps, events, ...} or {ok: false, error, code} by a
// POST to /result, and into the page.

import { createClient, ConnectError } from '@connectrpc/connect';
import { createGrpcWebTransport } from '@connectrpc/connect-web';
import { createFileRegistry, fromBinary } from '@bufbuild/protobuf';
import { FileDescriptorSetSchema } from '@bufbuild/protobuf/wkt';

const WAIT_MS = 60_000;

// Rpc.Error.Code values used here (pb/commands.proto).
const NULL = 0;
const UNAUTHENTICATED = 105;

// How each event message is described: "<kind>:<id>". A new event kind (a
// space or an object) is one more line here.
const describers = {
  accountShow: (m) => m.account.id,
  accountStopped: (m) => m.accountId,
};

function describe(message) {
  const { case: kind, value } = message.value;
  const fn = describers[kind];
  return fn ? `${kind}:${fn(value)}` : `${kind}:?`;
}

function check(ok, what) {
  if (!ok) throw new Error(`check failed: ${what}`);
}

// Events reads one session's event stream, in order.
class Events {
  constructor(client, headers) {
    this.seen = [];
    this.queue = [];
    this.waiting = null;
    this.ended = null;
    this.abort = new AbortController();
    this.run(client, headers);
  }

  async run(client, headers) {
    try {
      for await (const ev of client.listenSessionEvents({}, { headers, signal: this.abort.signal })) {
        for (const m of ev.messages) this.queue.push(describe(m));
        this.wake();
      }
      this.ended = { err: null };
    } catch (err) {
      this.ended = { err };
    }
    this.wake();
  }

  wake() {
    if (this.waiting) {
      const w = this.waiting;
      this.waiting = null;
      w();
    }
  }

  async next() {
    const deadline = Date.now() + WAIT_MS;
    while (this.queue.length === 0) {
      if (this.ended) throw new Error(`event stream ended: ${this.ended.err ? this.ended.err.message : 'cleanly'}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no event within ${WAIT_MS} ms`);
      await new Promise((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiting = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
    const item = this.queue.shift();
    this.seen.push(item);
    return item;
  }

  async expect(want) {
    const got = await this.next();
    check(got === want, `next event is ${want}, got ${got}`);
  }

  async closed() {
    const deadline = Date.now() + WAIT_MS;
    while (!this.ended) {
      check(Date.now() < deadline, 'the event stream ended');
      await new Promise((r) => setTimeout(r, 50));
    }
    return this.ended.err;
  }
}

async function run(report) {
  const cfg = await (await fetch('/config.json')).json();
  const fds = fromBinary(FileDescriptorSetSchema, new Uint8Array(await (await fetch('/descriptors.binpb')).arrayBuffer()));
  const registry = createFileRegistry(fds);
  const service = registry.getService('hearth.ClientCommands');
  check(service, 'the descriptors have hearth.ClientCommands');
  const client = createClient(service, createGrpcWebTransport({ baseUrl: cfg.grpcweb }));
  const step = (what) => report.steps.push(what);

  // SessionCreate is the one call without the token header; it carries the
  // root token in its request. A wrong one is refused.
  const wrong = await client.sessionCreate({ token: 'not-the-root-token', appName: 'browser' });
  check(wrong.error?.code === UNAUTHENTICATED, 'a wrong root token is refused');
  const created = await client.sessionCreate({ token: cfg.token, appName: 'browser-test' });
  check((created.error?.code ?? NULL) === NULL && created.token, 'SessionCreate gives a token');
  const headers = { token: created.token };
  const events = new Events(client, headers);
  step('SessionCreate, ListenSessionEvents opened');

  const command = async (name, request = {}) => {
    const resp = await client[name](request, { headers, timeoutMs: WAIT_MS });
    if (resp.error && resp.error.code !== NULL) throw new Error(`${name}: error ${resp.error.code}: ${resp.error.description}`);
    return resp;
  };

  const { version } = await command('appGetVersion');
  check(version, 'AppGetVersion answers a version');
  report.version = version;
  step(`AppGetVersion ${version}`);

  const alice = await command('accountCreate', { name: 'Alice' });
  check(alice.account.id && alice.account.deviceId, 'the account has ids');
  await events.expect(`accountShow:${alice.account.id}`);
  const shown = await command('accountShow');
  check(shown.account.id === alice.account.id && shown.account.name === 'Alice', 'AccountShow is Alice');
  report.alice = alice.account.id;
  step('AccountCreate Alice, accountShow event, AccountShow');

  await command('accountStop');
  await events.expect(`accountStopped:${alice.account.id}`);
  const bob = await command('accountCreate', { name: 'Bob' });
  await events.expect(`accountShow:${bob.account.id}`);
  report.bob = bob.account.id;
  await command('accountStop');
  await events.expect(`accountStopped:${bob.account.id}`);
  await command('accountSelect', { accountId: alice.account.id });
  await events.expect(`accountShow:${alice.account.id}`);
  step('AccountStop, AccountCreate Bob, AccountStop, AccountSelect Alice');

  const want = [
    `accountShow:${alice.account.id}`,
    `accountStopped:${alice.account.id}`,
    `accountShow:${bob.account.id}`,
    `accountStopped:${bob.account.id}`,
    `accountShow:${alice.account.id}`,
  ];
  check(JSON.stringify(events.seen) === JSON.stringify(want), `events in command order: ${events.seen}`);
  report.events = events.seen;
  step('events in command order');

  // A space and an object in it, read back. (The API has no space or object
  // events yet; when it does, events.expect them here.)
  const { spaceId } = await command('spaceCreate', { name: 'Home' });
  check(spaceId, 'SpaceCreate answers a space id');
  const { objectId } = await command('objectCreate', {
    spaceId,
    type: 'note',
    details: {
      title: { kind: { case: 'string', value: 'Hello from the browser' } },
      n: { kind: { case: 'number', value: 3 } },
    },
  });
  const { object } = await command('objectGet', { spaceId, objectId });
  check(object.objectId === objectId && object.type === 'note', 'ObjectGet answers the object');
  check(object.details.title.kind.value === 'Hello from the browser' && object.details.n.kind.value === 3, 'ObjectGet answers the details');
  report.space = spaceId;
  report.object = objectId;
  step('SpaceCreate, ObjectCreate, ObjectGet');

  await command('sessionClose');
  const streamErr = await events.closed();
  check(streamErr === null, `the stream ended cleanly (${streamErr})`);
  step('SessionClose ends the stream');
}

async function main() {
  const report = { origin: location.origin, ok: false, steps: [] };
  try {
    await run(report);
    report.ok = true;
  } catch (err) {
    report.error = String(err && err.message ? err.message : err);
    if (err instanceof ConnectError) report.code = err.code;
  }
  document.getElementById('result').textContent = JSON.stringify(report);
  await fetch('/result', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(report) });
}

main();
