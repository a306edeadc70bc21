// An Electron-style client of `hearth serve`, with the libraries an Electron
// main process uses: @grpc/grpc-js and @grpc/proto-loader, loading pb/*.proto
// as they are (no generated code, so it cannot drift from the API).
//
// It creates a session with the root token (as the main process does for each
// window), listens to the session's events, runs commands and checks that
// their events arrive in command order, then creates a space and an object. Run by tests/electron_test.go:
//
//   HEARTH_TOKEN=<root token from serve.json> node client.js --grpc HOST:PORT --proto DIR
//
// Prints "ok: ..." per step and, last, one line "RESULT {json}"; exits 1 with
// the failure on stderr otherwise. Deadlines are generous (a busy 2-core CI).
'use strict';

const assert = require('node:assert/strict');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');

const WAIT_MS = 60_000;

function parseArgs(argv) {
  const args = {};
  for (let i = 0; i < argv.length; i += 2) {
    const key = argv[i].replace(/^--/, '');
    args[key] = argv[i + 1];
  }
  assert.ok(args.grpc, '--grpc HOST:PORT is required');
  assert.ok(args.proto, '--proto DIR (the pb/ folder) is required');
  assert.ok(process.env.HEARTH_TOKEN, 'HEARTH_TOKEN (the root token) is required');
  return { addr: args.grpc, protoDir: args.proto, rootToken: process.env.HEARTH_TOKEN };
}

function newClient(protoDir, addr) {
  const def = protoLoader.loadSync('commands.proto', {
    includeDirs: [protoDir],
    keepCase: true,
    longs: String,
    enums: String,
    defaults: true,
    oneofs: true,
  });
  const { hearth } = grpc.loadPackageDefinition(def);
  return new hearth.ClientCommands(addr, grpc.credentials.createInsecure());
}

function withToken(token) {
  const md = new grpc.Metadata();
  md.set('token', token);
  return md;
}

// unary calls method and resolves with the response; a gRPC failure rejects
// with its status code in err.code.
function unary(client, method, request, md) {
  return new Promise((resolve, reject) => {
    client[method](request, md || new grpc.Metadata(), { deadline: Date.now() + WAIT_MS }, (err, resp) =>
      err ? reject(err) : resolve(resp),
    );
  });
}

// How each event message is described: "<kind>:<id>". A new event kind (a
// space or an object) is one more line here.
const describers = {
  accountShow: (m) => m.account.id,
  accountStopped: (m) => m.accountId,
};

function describe(message) {
  const kind = message.value;
  const fn = describers[kind];
  return fn ? `${kind}:${fn(message[kind])}` : `${kind}:?`;
}

// Events is one session's event stream, read in order.
class Events {
  constructor(client, md) {
    this.seen = [];
    this.queue = [];
    this.waiting = null;
    this.ended = null;
    this.stream = client.ListenSessionEvents({}, md);
    this.stream.on('data', (ev) => {
      for (const m of ev.messages) this.push(describe(m));
    });
    this.stream.on('error', (err) => this.end(err));
    this.stream.on('end', () => this.end(null));
  }

  push(item) {
    this.queue.push(item);
    this.wake();
  }

  end(err) {
    if (!this.ended) this.ended = { err };
    this.wake();
  }

  wake() {
    if (this.waiting) {
      const w = this.waiting;
      this.waiting = null;
      w();
    }
  }

  // next resolves with the next event, or rejects when the stream ended or
  // none arrived in time.
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
    assert.equal(await this.next(), want);
  }

  // closed resolves once the server ended the stream.
  async closed() {
    const deadline = Date.now() + WAIT_MS;
    while (!this.ended) {
      assert.ok(Date.now() < deadline, 'the event stream did not end');
      await new Promise((r) => setTimeout(r, 50));
    }
    return this.ended.err;
  }
}

function ok(what) {
  console.log(`ok: ${what}`);
}

async function main() {
  const { addr, protoDir, rootToken } = parseArgs(process.argv.slice(2));
  const client = newClient(protoDir, addr);

  // Every call but SessionCreate needs the token metadata.
  await assert.rejects(unary(client, 'AppGetVersion', {}), (err) => err.code === grpc.status.UNAUTHENTICATED);
  const wrong = await unary(client, 'SessionCreate', { token: 'not-the-root-token', appName: 'electron' });
  assert.equal(wrong.error.code, 'UNAUTHENTICATED');
  ok('calls without a token and SessionCreate with a wrong root token are refused');

  // The main process opens a session for its window with the root token.
  const created = await unary(client, 'SessionCreate', { token: rootToken, appName: 'electron-test' });
  assert.equal(created.error?.code ?? 'NULL', 'NULL');
  const md = withToken(created.token);
  const events = new Events(client, md);
  ok('SessionCreate, ListenSessionEvents opened');

  // command runs one command with the session's token and throws on its Error.
  const command = async (method, request = {}) => {
    const resp = await unary(client, method, request, md);
    if (resp.error && resp.error.code !== 'NULL') {
      throw new Error(`${method}: ${resp.error.code}: ${resp.error.description}`);
    }
    return resp;
  };

  const { version } = await command('AppGetVersion');
  assert.ok(version, 'AppGetVersion answers a version');
  ok(`AppGetVersion ${version}`);

  const alice = await command('AccountCreate', { name: 'Alice' });
  assert.ok(alice.account.id && alice.account.deviceId, 'the account has ids');
  assert.ok(alice.mnemonic.trim().split(/\s+/).length >= 12, 'a 12+ word mnemonic');
  await events.expect(`accountShow:${alice.account.id}`);
  const shown = await command('AccountShow');
  assert.equal(shown.account.id, alice.account.id);
  assert.equal(shown.account.name, 'Alice');
  ok(`AccountCreate Alice ${alice.account.id}, accountShow event, AccountShow`);

  await command('AccountStop');
  await events.expect(`accountStopped:${alice.account.id}`);
  const bob = await command('AccountCreate', { name: 'Bob' });
  await events.expect(`accountShow:${bob.account.id}`);
  const list = await command('AccountList');
  assert.deepEqual([...list.accountIds].sort(), [alice.account.id, bob.account.id].sort());
  await command('AccountStop');
  await events.expect(`accountStopped:${bob.account.id}`);
  await command('AccountSelect', { accountId: alice.account.id });
  await events.expect(`accountShow:${alice.account.id}`);
  ok('AccountStop, AccountCreate Bob, AccountList, AccountStop, AccountSelect Alice');

  const want = [
    `accountShow:${alice.account.id}`,
    `accountStopped:${alice.account.id}`,
    `accountShow:${bob.account.id}`,
    `accountStopped:${bob.account.id}`,
    `accountShow:${alice.account.id}`,
  ];
  assert.deepEqual(events.seen, want, 'events arrive in command order');
  ok(`events in command order: ${events.seen.join(', ')}`);

  // A space and an object in it, read back. (The API has no space or object
  // events yet; when it does, events.expect them here.)
  const { spaceId } = await command('SpaceCreate', { name: 'Home' });
  assert.ok(spaceId, 'SpaceCreate answers a space id');
  const { spaces } = await command('SpaceList');
  assert.ok(spaces.some((s) => s.spaceId === spaceId && s.name === 'Home'), 'SpaceList has Home');
  const { objectId } = await command('ObjectCreate', {
    spaceId,
    type: 'note',
    details: { title: { string: 'Hello from Node' }, n: { number: 3 } },
  });
  const { object } = await command('ObjectGet', { spaceId, objectId });
  assert.equal(object.objectId, objectId);
  assert.equal(object.type, 'note');
  assert.equal(object.details.title.string, 'Hello from Node');
  assert.equal(object.details.n.number, 3);
  ok(`SpaceCreate Home ${spaceId}, SpaceList, ObjectCreate ${objectId}, ObjectGet`);

  // Closing the session ends its stream cleanly and revokes its token.
  await command('SessionClose');
  const streamErr = await events.closed();
  assert.equal(streamErr, null, `the stream ended with ${streamErr && streamErr.message}`);
  await assert.rejects(unary(client, 'AppGetVersion', {}, md), (err) => err.code === grpc.status.UNAUTHENTICATED);
  ok('SessionClose ends the stream; the session token no longer works');

  client.close();
  console.log(
    'RESULT ' +
      JSON.stringify({
        version,
        alice: alice.account.id,
        bob: bob.account.id,
        events: events.seen,
        space: spaceId,
        object: objectId,
      }),
  );
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(`FAIL: ${err && err.stack ? err.stack : err}`);
    process.exit(1);
  },
);
