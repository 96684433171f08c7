// Tests of ws_routes/static/ws_routes/ws-routes.js with Node's own test runner (no packages):
//   node --test tests/js/
// A fake WebSocket and a fake fetch stand in for the browser; timers are real but short.
"use strict";

const test = require("node:test");
const assert = require("node:assert/strict");
const path = require("node:path");

const WsRoutes = require(path.join(__dirname, "../../ws_routes/static/ws_routes/ws-routes.js"));
const {WsRoutesError} = WsRoutes;

class FakeSocket {
  constructor(url) {
    this.url = url;
    this.readyState = 0;
    this.sent = [];
    this.closedWith = null;
    FakeSocket.instances.push(this);
  }

  send(text) {
    if (this.readyState !== 1) throw new Error("InvalidStateError");
    this.sent.push(JSON.parse(text));
  }

  close(code, reason) {
    this.closedWith = {code, reason};
    this.readyState = 3;
  }

  // What the server (the gateway) does:
  open() {
    this.readyState = 1;
    this.onopen({});
  }

  push(data) {
    this.onmessage({data: typeof data === "string" || data instanceof Uint8Array ? data : JSON.stringify(data)});
  }

  drop(code = 1006) {
    this.readyState = 3;
    this.onclose({code, reason: "", wasClean: false});
  }

  get lastSent() {
    return this.sent[this.sent.length - 1];
  }
}
FakeSocket.instances = [];

function tokenServer(answers) {
  // answers: list of tokens (strings), Errors (network failure) or {status, body} objects;
  // the last one repeats.
  const calls = [];
  async function fetch(url, init) {
    calls.push({url, init});
    const answer = answers[Math.min(calls.length - 1, answers.length - 1)];
    if (answer instanceof Error) throw answer;
    if (typeof answer === "string") {
      return {ok: true, status: 200, json: async () => ({token: answer, expires_in: 60})};
    }
    return {
      ok: answer.status >= 200 && answer.status < 300,
      status: answer.status,
      json: async () => {
        if (answer.body === undefined) throw new SyntaxError("Unexpected token <");
        return answer.body;
      },
    };
  }
  fetch.calls = calls;
  return fetch;
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function until(predicate, what, timeout = 2000) {
  const started = Date.now();
  while (!predicate()) {
    if (Date.now() - started > timeout) throw new Error("timed out waiting for " + what);
    await sleep(1);
  }
}

function client(options = {}) {
  FakeSocket.instances = [];
  const fetch = options.fetch || tokenServer(["tok-1", "tok-2", "tok-3", "tok-4"]);
  const ws = new WsRoutes(Object.assign({
    url: "ws://127.0.0.1:8001",
    tokenUrl: "/ws/token/",
    csrfToken: "csrf-abc",
    channel: "lobby",
    WebSocket: FakeSocket,
    fetch,
    minDelay: 4,
    maxDelay: 40,
    random: () => 0.5,
    requestTimeout: 200,
  }, options));
  const events = [];
  for (const name of ["open", "close", "message", "reply", "error", "reconnecting"]) {
    ws.on(name, (payload) => events.push([name, payload]));
  }
  return {ws, fetch, events, socket: (i = -1) => FakeSocket.instances.at(i)};
}

async function connected(options) {
  const c = client(options);
  const opened = c.ws.connect();
  await until(() => FakeSocket.instances.length === 1, "the socket");
  c.socket().open();
  await opened;
  return c;
}

test("connect fetches a one-time token with the CSRF header, then opens url?token&channel", async () => {
  const {ws, fetch, events, socket} = await connected();
  assert.equal(fetch.calls.length, 1);
  assert.equal(fetch.calls[0].url, "/ws/token/");
  assert.equal(fetch.calls[0].init.method, "POST");
  assert.equal(fetch.calls[0].init.credentials, "same-origin");
  assert.equal(fetch.calls[0].init.headers["X-CSRFToken"], "csrf-abc");
  const url = new URL(socket().url);
  assert.equal(url.origin, "ws://127.0.0.1:8001");
  assert.equal(url.searchParams.get("token"), "tok-1");
  assert.equal(url.searchParams.get("channel"), "lobby");
  assert.equal(socket().binaryType, "arraybuffer");
  assert.equal(ws.state, "open");
  assert.ok(ws.connected);
  assert.deepEqual(events.map((e) => e[0]), ["open"]);
  // connect() again is a no-op that resolves at once.
  assert.equal(await ws.connect(), ws);
  assert.equal(FakeSocket.instances.length, 1);
  ws.close();
});

test("channel and token are URL-encoded; http(s) URLs become ws(s); no tokenUrl: no fetch", async () => {
  const {ws, socket, fetch} = client({url: "https://ws.example.com/prod", tokenUrl: null,
    channel: "a b&c=d"});
  ws.connect();
  await until(() => FakeSocket.instances.length === 1, "the socket");
  const url = new URL(socket().url);
  assert.equal(url.protocol, "wss:");
  assert.equal(url.pathname, "/prod");
  assert.equal(url.searchParams.get("channel"), "a b&c=d");
  assert.equal(url.searchParams.has("token"), false);
  assert.equal(fetch.calls.length, 0);
  ws.close();
});

test("request resolves with the reply's data, matched by id even out of order", async () => {
  const {ws, socket, events} = await connected();
  const first = ws.request("chat.who");
  const second = ws.request("chat.send", {text: "hi"});
  const [a, b] = socket().sent;
  assert.equal(a.action, "chat.who");
  assert.deepEqual(b, {text: "hi", action: "chat.send", id: b.id});
  assert.notEqual(a.id, b.id);
  socket().push({action: "chat.send", id: b.id, data: {delivered: 2}});
  socket().push({action: "chat.who", id: a.id, data: {online: ["alice"]}});
  assert.deepEqual(await second, {delivered: 2});
  assert.deepEqual(await first, {online: ["alice"]});
  assert.deepEqual(events.filter((e) => e[0] === "reply").map((e) => e[1].id), [b.id, a.id]);
  assert.equal(events.filter((e) => e[0] === "message").length, 0);
  ws.close();
});

test("an error reply rejects with the server's code, message and details", async () => {
  const {ws, socket} = await connected();
  const pending = ws.request("chat.send", {text: ""});
  const error = {code: "invalid_message", message: "The message does not match the schema",
    details: [{path: "$.text", message: "'' is too short"}]};
  socket().push({action: "chat.send", id: socket().lastSent.id, error});
  await assert.rejects(pending, (e) => {
    assert.ok(e instanceof WsRoutesError && e instanceof Error);
    assert.equal(e.code, "invalid_message");
    assert.equal(e.message, error.message);
    assert.deepEqual(e.details, error.details);
    assert.equal(e.action, "chat.send");
    return true;
  });
  ws.close();
});

test("a malformed error reply rejects with invalid_reply", async () => {
  const {ws, socket} = await connected();
  const pending = ws.request("x");
  socket().push({action: "x", id: socket().lastSent.id, error: "boom"});
  await assert.rejects(pending, {code: "invalid_reply"});
  ws.close();
});

test("replies with unknown ids settle nothing; their errors are error events", async () => {
  const {ws, socket, events} = await connected();
  const pending = ws.request("chat.who");
  const id = socket().lastSent.id;
  socket().push({action: "chat.who", id: id + "x", data: {forged: true}});
  socket().push({action: "chat.who", id: 12345, data: {forged: true}});
  socket().push({action: "chat.send", error: {code: "invalid_json", message: "bad"}});
  socket().push({action: null, id: null, error: {code: "invalid_json", message: "bad"}});
  const errors = events.filter((e) => e[0] === "error").map((e) => e[1].code);
  assert.deepEqual(errors, ["invalid_json", "invalid_json"]);
  assert.equal(events.filter((e) => e[0] === "reply").length, 4);
  socket().push({action: "chat.who", id, data: {online: []}});
  assert.deepEqual(await pending, {online: []});
  ws.close();
});

test("pushes: JSON objects, arrays, scalars, non-JSON text and binary frames are messages", async () => {
  const {ws, socket, events} = await connected();
  socket().push({type: "chat.message", from: "bob", text: "hi"});
  socket().push({type: "x", action: "chat.send", data: {}}); // has "type": a push, not a reply
  socket().push({action: "only-action"}); // neither data nor error: a push
  socket().push([1, 2]);
  socket().push("not json {");
  socket().push("");
  socket().push(new TextEncoder().encode('{"type":"bin"}'));
  socket().push(new Uint8Array([0xff, 0xfe]));
  const messages = events.filter((e) => e[0] === "message").map((e) => e[1]);
  assert.deepEqual(messages.slice(0, 7), [
    {type: "chat.message", from: "bob", text: "hi"},
    {type: "x", action: "chat.send", data: {}},
    {action: "only-action"},
    [1, 2],
    "not json {",
    "",
    {type: "bin"},
  ]);
  assert.equal(typeof messages[7], "string"); // undecodable bytes: replaced, not thrown
  assert.equal(ws.state, "open");
  ws.close();
});

test("a timed-out request rejects; its late reply is only a reply event", async () => {
  const {ws, socket, events} = await connected({requestTimeout: 20});
  const started = Date.now();
  const pending = ws.request("slow");
  await assert.rejects(pending, {code: "timeout", action: "slow"});
  assert.ok(Date.now() - started >= 15);
  socket().push({action: "slow", id: socket().lastSent.id, data: 1});
  assert.equal(events.filter((e) => e[0] === "reply").length, 1);
  const quick = ws.request("slow", {}, {timeout: 5});
  await assert.rejects(quick, {code: "timeout"});
  ws.close();
});

test("the server closing mid-request rejects pending requests, then reconnects with a fresh token", async () => {
  const {ws, socket, events, fetch} = await connected();
  const a = ws.request("one");
  const b = ws.request("two");
  socket(0).drop(1001);
  await assert.rejects(a, {code: "connection_closed", action: "one"});
  await assert.rejects(b, {code: "connection_closed", action: "two"});
  const close = events.find((e) => e[0] === "close")[1];
  assert.deepEqual(close, {code: 1001, reason: "", wasClean: false, willReconnect: true});
  assert.deepEqual(events.find((e) => e[0] === "reconnecting")[1], {attempt: 1, delay: 2});
  assert.equal(ws.send("x", {}), false);
  await assert.rejects(ws.request("x"), {code: "not_connected"});
  await until(() => FakeSocket.instances.length === 2, "the second socket");
  assert.equal(fetch.calls.length, 2);
  assert.equal(new URL(socket(1).url).searchParams.get("token"), "tok-2");
  socket(1).open();
  assert.equal(ws.state, "open");
  // Frames from the dead socket are ignored.
  socket(0).onmessage({data: JSON.stringify({type: "ghost"})});
  assert.equal(events.filter((e) => e[0] === "message").length, 0);
  ws.close();
});

test("a refused handshake (close without open) backs off and retries", async () => {
  const {ws, socket, events} = client();
  ws.connect();
  await until(() => FakeSocket.instances.length === 1, "the socket");
  socket(0).drop(1006);
  await until(() => FakeSocket.instances.length === 2, "a retry");
  socket(1).drop(1006);
  await until(() => FakeSocket.instances.length === 3, "another retry");
  socket(2).open();
  assert.equal(ws.state, "open");
  socket(2).drop(1001); // an open resets the backoff
  const attempts = events.filter((e) => e[0] === "reconnecting").map((e) => e[1]);
  assert.deepEqual(attempts, [{attempt: 1, delay: 2}, {attempt: 2, delay: 4},
    {attempt: 1, delay: 2}]);
  ws.close();
});

test("backoff is exponential with full jitter, capped at maxDelay", async () => {
  const draws = [];
  const random = () => {
    const r = [0.999, 0, 0.5][draws.length % 3];
    draws.push(r);
    return r;
  };
  const {ws, events, socket, fetch} = client({
    fetch: tokenServer([new TypeError("Failed to fetch")]),
    random, minDelay: 2, maxDelay: 16,
  });
  ws.connect();
  await until(() => events.filter((e) => e[0] === "reconnecting").length >= 7, "7 retries");
  ws.close();
  const delays = events.filter((e) => e[0] === "reconnecting").map((e) => e[1].delay).slice(0, 7);
  // ceilings 2, 4, 8, 16, 16, 16, 16; delay = floor(random * ceiling)
  assert.deepEqual(delays, [1, 0, 4, 15, 0, 8, 15]);
  assert.ok(fetch.calls.length >= 7);
  assert.equal(FakeSocket.instances.length, 0);
  assert.equal(socket(), undefined);
});

test("token fetch failures are error events and the backoff goes on until one succeeds", async () => {
  const fetch = tokenServer([
    new TypeError("Failed to fetch"),
    {status: 500, body: {}},
    {status: 429, body: {error: {code: "rate_limited"}}},
    {status: 200}, // not JSON
    {status: 200, body: {nope: 1}},
    {status: 200, body: {token: ""}},
    {status: 200, body: ["tok"]},
    "tok-ok",
  ]);
  const {ws, events, socket} = client({fetch});
  const opened = ws.connect();
  await until(() => FakeSocket.instances.length === 1, "a socket after 7 failures");
  assert.equal(new URL(socket().url).searchParams.get("token"), "tok-ok");
  socket().open();
  await opened;
  const errors = events.filter((e) => e[0] === "error").map((e) => e[1]);
  assert.equal(errors.length, 7);
  assert.ok(errors.every((e) => e.code === "token_unavailable" && !e.fatal));
  assert.deepEqual(errors.map((e) => e.status), [undefined, 500, 429, undefined, undefined,
    undefined, undefined]);
  assert.equal(events.filter((e) => e[0] === "reconnecting").length, 7);
  ws.close();
});

test("a token fetch that never answers is aborted after requestTimeout", async () => {
  const fetch = (url, init) => new Promise((resolve, reject) => {
    init.signal.addEventListener("abort", () => reject(new Error("aborted")));
  });
  fetch.calls = [];
  const {ws, events} = client({fetch, requestTimeout: 10});
  ws.connect();
  await until(() => events.some((e) => e[0] === "error"), "the abort");
  assert.equal(events.find((e) => e[0] === "error")[1].code, "token_unavailable");
  ws.close();
});

test("401 or 403 from the token URL stops reconnecting and rejects connect()", async () => {
  for (const [status, code] of [[401, "not_authenticated"], [403, "forbidden"]]) {
    const {ws, events} = client({fetch: tokenServer([{status, body: {}}])});
    await assert.rejects(ws.connect(), {code, status, fatal: true});
    await sleep(20);
    assert.equal(ws.state, "closed");
    assert.equal(events.filter((e) => e[0] === "reconnecting").length, 0);
    assert.equal(FakeSocket.instances.length, 0);
  }
});

test("close() stops everything: pending requests, the backoff timer, an in-flight token fetch", async () => {
  const {ws, socket, events} = await connected();
  const pending = ws.request("x");
  ws.close(4000, "bye");
  await assert.rejects(pending, {code: "connection_closed"});
  assert.deepEqual(socket().closedWith, {code: 4000, reason: "bye"});
  assert.deepEqual(events.at(-1), ["close", {code: 4000, reason: "bye", wasClean: true,
    willReconnect: false}]);
  socket().onclose({code: 4000, reason: "bye", wasClean: true}); // the real close, later
  await sleep(20);
  assert.equal(FakeSocket.instances.length, 1);
  assert.equal(events.filter((e) => e[0] === "close").length, 1);

  // During a token fetch: no socket is opened afterwards; connect() rejects.
  let release;
  const slow = (url, init) => new Promise((resolve) => {
    release = () => resolve({ok: true, status: 200, json: async () => ({token: "late"})});
  });
  const second = client({fetch: slow});
  const opened = second.ws.connect();
  await until(() => release, "the fetch");
  second.ws.close();
  release();
  await assert.rejects(opened, {code: "connection_closed"});
  await sleep(10);
  assert.equal(FakeSocket.instances.length, 0);

  // While waiting to reconnect: the timer is cleared.
  const third = await connected();
  third.socket().drop();
  assert.equal(third.ws.state, "waiting");
  third.ws.close();
  await sleep(30);
  assert.equal(FakeSocket.instances.length, 1);
  // connect() after close() starts again.
  const again = third.ws.connect();
  await until(() => FakeSocket.instances.length === 2, "a new socket");
  third.socket().open();
  await again;
  third.ws.close();
});

test("reconnect: false stays closed after the server closes", async () => {
  const {ws, socket, events} = await connected({reconnect: false});
  socket().drop(1000);
  await sleep(20);
  assert.equal(ws.state, "closed");
  assert.equal(FakeSocket.instances.length, 1);
  assert.equal(events.find((e) => e[0] === "close")[1].willReconnect, false);
});

test("a listener that throws does not stop the others or the client", async () => {
  const originalError = console.error;
  const reported = [];
  console.error = (e) => reported.push(e);
  try {
    const {ws, socket, events} = await connected();
    ws.on("message", () => { throw new Error("listener bug"); });
    const seen = [];
    ws.on("message", (m) => seen.push(m));
    socket().push({type: "a"});
    assert.deepEqual(seen, [{type: "a"}]);
    assert.equal(reported[0].message, "listener bug");
    const pending = ws.request("x");
    socket().push({action: "x", id: socket().lastSent.id, data: 7});
    assert.equal(await pending, 7);
    assert.ok(events.length > 0);
    ws.close();
  } finally {
    console.error = originalError;
  }
});

test("a listener may close the client from a close event", async () => {
  const {ws, socket} = await connected();
  ws.on("close", () => ws.close());
  socket().drop();
  await sleep(20);
  assert.equal(ws.state, "closed");
  assert.equal(FakeSocket.instances.length, 1);
});

test("bad arguments fail loudly", async () => {
  assert.throws(() => new WsRoutes({}), TypeError);
  const {ws} = await connected();
  assert.throws(() => ws.on("mesage", () => {}), /unknown event/);
  assert.throws(() => ws.on("message", "nope"), TypeError);
  assert.throws(() => ws.send("", {}), TypeError);
  assert.throws(() => ws.send("x", [1]), TypeError);
  await assert.rejects(ws.request(null), TypeError);
  await assert.rejects(ws.request("x", "text"), TypeError);
  // action and id cannot be smuggled through data; the selection key is configurable.
  const other = await connected({selectionKey: "route"});
  other.ws.send("chat.send", {route: "admin", id: "forged", text: "x"});
  assert.deepEqual(other.socket().lastSent, {route: "chat.send", id: "forged", text: "x"});
  other.ws.request("chat.send", {route: "admin", id: "forged"}).catch(() => {});
  assert.deepEqual(Object.keys(other.socket().lastSent), ["route", "id"]);
  assert.notEqual(other.socket().lastSent.id, "forged");
  other.ws.close();
  ws.close();
});

test("an unsubscribed listener hears nothing more", async () => {
  const {ws, socket} = await connected();
  const seen = [];
  const off = ws.on("message", (m) => seen.push(m));
  socket().push({type: 1});
  off();
  socket().push({type: 2});
  assert.deepEqual(seen, [{type: 1}]);
  ws.close();
});

test("a malformed url is reported once, without retrying", async () => {
  const {ws, events} = client({url: "ws://[not a host", tokenUrl: null});
  await assert.rejects(ws.connect(), {code: "invalid_url"});
  await sleep(10);
  assert.equal(events.filter((e) => e[0] === "error").length, 1);
  assert.equal(ws.state, "closed");
});
