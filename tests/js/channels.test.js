// Channels in ws-routes.js: subscribe/unsubscribe, last seq per channel, resume after a
// reconnect (replay, then held pushes, no duplicates), presence and gap events.
//   node --test tests/js/
"use strict";

const test = require("node:test");
const assert = require("node:assert/strict");
const path = require("node:path");

const WsRoutes = require(path.join(__dirname, "../../ws_routes/static/ws_routes/ws-routes.js"));

class FakeSocket {
  constructor(url) {
    this.url = url;
    this.readyState = 0;
    this.sent = [];
    FakeSocket.instances.push(this);
  }

  send(text) {
    if (this.readyState !== 1) throw new Error("InvalidStateError");
    this.sent.push(JSON.parse(text));
  }

  close() {
    this.readyState = 3;
  }

  open() {
    this.readyState = 1;
    this.onopen({});
  }

  push(data) {
    this.onmessage({data: JSON.stringify(data)});
  }

  drop() {
    this.readyState = 3;
    this.onclose({code: 1006, reason: "", wasClean: false});
  }

  requests(action) {
    return this.sent.filter((frame) => frame.action === action);
  }

  /** Answer the last request of ``action`` with ``data`` (or an error). */
  reply(action, data, error) {
    const request = this.requests(action).at(-1);
    assert.ok(request, "no " + action + " request was sent");
    this.push(error ? {action, id: request.id, error} : {action, id: request.id, data});
    return request;
  }
}
FakeSocket.instances = [];

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function until(predicate, what, timeout = 2000) {
  const started = Date.now();
  while (!predicate()) {
    if (Date.now() - started > timeout) throw new Error("timed out waiting for " + what);
    await sleep(1);
  }
}

async function connected(options = {}) {
  FakeSocket.instances = [];
  const ws = new WsRoutes(Object.assign({
    url: "ws://127.0.0.1:8001",
    WebSocket: FakeSocket,
    minDelay: 2,
    maxDelay: 10,
    random: () => 0.5,
    requestTimeout: 300,
  }, options));
  const events = [];
  for (const name of ["message", "presence", "gap", "error"]) {
    ws.on(name, (payload) => events.push([name, payload]));
  }
  const opened = ws.connect();
  await until(() => FakeSocket.instances.length === 1, "the socket");
  FakeSocket.instances[0].open();
  await opened;
  const socket = () => FakeSocket.instances.at(-1);
  const messages = () => events.filter((e) => e[0] === "message").map((e) => e[1]);
  return {ws, events, socket, messages};
}

async function reconnect(c) {
  const count = FakeSocket.instances.length;
  c.socket().drop();
  await until(() => FakeSocket.instances.length === count + 1, "a new socket");
  c.socket().open();
}

const msg = (channel, seq, n) => ({type: "m", n, channel, seq});

test("subscribe sends channel.subscribe and resolves with the reply", async () => {
  const {ws, socket} = await connected();
  const pending = ws.subscribe("room:a");
  assert.deepEqual(socket().requests("channel.subscribe")[0],
    {channel: "room:a", action: "channel.subscribe", id: socket().sent[0].id});
  socket().reply("channel.subscribe", {channel: "room:a", subscribed: true, seq: 7});
  assert.deepEqual(await pending, {channel: "room:a", subscribed: true, seq: 7});
  assert.deepEqual(ws.subscriptions, ["room:a"]);
  assert.equal(ws.lastSeq("room:a"), 7);
  assert.equal(ws.subscribe("room:a"), ws.subscribe("room:a")); // the same promise, no resend
  assert.equal(socket().requests("channel.subscribe").length, 1);
  ws.close();
});

test("subscribe before connecting waits for the open; history asks since=0", async () => {
  FakeSocket.instances = [];
  const ws = new WsRoutes({url: "ws://x", WebSocket: FakeSocket, requestTimeout: 300});
  const messages = [];
  ws.on("message", (m) => messages.push(m));
  const pending = ws.subscribe("room:h", {history: true});
  ws.connect();
  await until(() => FakeSocket.instances.length === 1, "the socket");
  const socket = FakeSocket.instances[0];
  assert.equal(socket.sent.length, 0);
  socket.open();
  const request = socket.requests("channel.subscribe")[0];
  assert.equal(request.since, 0);
  socket.reply("channel.subscribe", {channel: "room:h", subscribed: true, seq: 2, gap: false,
    more: false, messages: [msg("room:h", 1, "a"), msg("room:h", 2, "b")]});
  await pending;
  assert.deepEqual(messages.map((m) => m.n), ["a", "b"]);
  assert.equal(ws.lastSeq("room:h"), 2);
  ws.close();
});

test("invalid channel names are refused locally", async () => {
  const {ws, socket} = await connected();
  for (const name of ["", "a b", "x".repeat(129), 5, null, "é"]) {
    await assert.rejects(ws.subscribe(name), TypeError);
  }
  assert.equal(socket().sent.length, 0);
  ws.close();
});

test("pushes update the last seq; duplicates are dropped; out of order still counts", async () => {
  const c = await connected();
  const pending = c.ws.subscribe("room:s");
  c.socket().reply("channel.subscribe", {channel: "room:s", subscribed: true, seq: 0});
  await pending;
  for (const seq of [1, 2, 2, 4, 3, 1, 4, 5]) c.socket().push(msg("room:s", seq, seq));
  assert.deepEqual(c.messages().map((m) => m.seq), [1, 2, 4, 3, 5]);
  assert.equal(c.ws.lastSeq("room:s"), 5);
  c.ws.close();
});

test("after a reconnect: since=last, the replay in order before pushes held meanwhile", async () => {
  const c = await connected();
  const first = c.ws.subscribe("room:r");
  c.socket().reply("channel.subscribe", {channel: "room:r", subscribed: true, seq: 10});
  await first;
  c.socket().push(msg("room:r", 11, "x"));
  await reconnect(c);
  const request = c.socket().requests("channel.subscribe")[0];
  assert.equal(request.channel, "room:r");
  assert.equal(request.since, 11);
  c.socket().push(msg("room:r", 14, "live")); // arrives before the reply
  c.socket().push(msg("room:r", 13, "live-dup"));
  c.socket().reply("channel.subscribe", {channel: "room:r", subscribed: true, seq: 13,
    gap: false, more: false, messages: [msg("room:r", 12, "a"), msg("room:r", 13, "b")]});
  await until(() => c.messages().length === 4, "the replay");
  assert.deepEqual(c.messages().map((m) => m.seq), [11, 12, 13, 14]);
  assert.equal(c.ws.lastSeq("room:r"), 14);
  c.socket().push(msg("room:r", 15, "next"));
  assert.deepEqual(c.messages().map((m) => m.seq), [11, 12, 13, 14, 15]);
  c.ws.close();
});

test("every reconnect resubscribes every channel, and a gap is an event", async () => {
  const c = await connected();
  const a = c.ws.subscribe("room:1");
  const b = c.ws.subscribe("room:2");
  const [ra, rb] = c.socket().requests("channel.subscribe");
  c.socket().push({action: "channel.subscribe", id: ra.id, data: {channel: "room:1", seq: 3}});
  c.socket().push({action: "channel.subscribe", id: rb.id, data: {channel: "room:2"}});
  await Promise.all([a, b]);
  for (let round = 0; round < 2; round++) {
    await reconnect(c);
    const sent = c.socket().requests("channel.subscribe");
    assert.deepEqual(sent.map((r) => [r.channel, r.since]), [["room:1", 3], ["room:2", undefined]]);
  }
  c.socket().push({action: "channel.subscribe", id: c.socket().requests("channel.subscribe")[0].id,
    data: {channel: "room:1", seq: 900, gap: true, more: false, messages: [msg("room:1", 850)]}});
  await until(() => c.events.some((e) => e[0] === "gap"), "the gap event");
  assert.deepEqual(c.events.find((e) => e[0] === "gap")[1], {channel: "room:1", seq: 900});
  assert.equal(c.ws.lastSeq("room:1"), 850);
  c.ws.close();
});

test("a replay that says more: true is continued with channel.history", async () => {
  const c = await connected();
  const pending = c.ws.subscribe("room:m", {history: true});
  c.socket().reply("channel.subscribe", {channel: "room:m", seq: 4, gap: false, more: true,
    messages: [msg("room:m", 1), msg("room:m", 2)]});
  await until(() => c.socket().requests("channel.history").length === 1, "channel.history");
  assert.equal(c.socket().requests("channel.history")[0].since, 2);
  c.socket().reply("channel.history", {channel: "room:m", seq: 4, gap: false, more: false,
    messages: [msg("room:m", 3), msg("room:m", 4)]});
  await pending;
  assert.deepEqual(c.messages().map((m) => m.seq), [1, 2, 3, 4]);
  c.ws.close();
});

test("the connect's ?channel= is already subscribed: resume reads channel.history", async () => {
  const c = await connected({channel: "room:q"});
  const pending = c.ws.subscribe("room:q");
  c.socket().reply("channel.subscribe", null,
    {code: "already_subscribed", message: "already", details: {channel: "room:q"}});
  await pending;
  c.socket().push(msg("room:q", 1));
  await reconnect(c);
  c.socket().reply("channel.subscribe", null, {code: "already_subscribed", message: "already"});
  await until(() => c.socket().requests("channel.history").length === 1, "channel.history");
  assert.equal(c.socket().requests("channel.history")[0].since, 1);
  c.ws.close();
});

test("presence pushes are presence events, not messages", async () => {
  const c = await connected();
  const presence = {type: "presence", channel: "room:p", event: "join", user: {username: "bob"}};
  c.socket().push(presence);
  assert.deepEqual(c.events, [["presence", presence]]);
  c.ws.close();
});

test("unsubscribe forgets the channel: no resubscribe, pushes are plain messages", async () => {
  const c = await connected();
  const pending = c.ws.subscribe("room:u");
  c.socket().reply("channel.subscribe", {channel: "room:u", seq: 1});
  await pending;
  const leaving = c.ws.unsubscribe("room:u");
  c.socket().reply("channel.unsubscribe", {channel: "room:u", subscribed: false});
  assert.deepEqual(await leaving, {channel: "room:u", subscribed: false});
  assert.deepEqual(c.ws.subscriptions, []);
  await reconnect(c);
  assert.equal(c.socket().requests("channel.subscribe").length, 0);
  assert.deepEqual(await c.ws.unsubscribe("room:never"), {channel: "room:never", subscribed: false});
  c.ws.close();
});

test("a refused subscribe rejects, is an error event and is not retried", async () => {
  const c = await connected();
  const pending = c.ws.subscribe("user:1");
  c.socket().reply("channel.subscribe", null,
    {code: "channel_forbidden", message: "You may not join this channel"});
  await assert.rejects(pending, {code: "channel_forbidden"});
  assert.equal(c.events.filter((e) => e[0] === "error").length, 1);
  assert.deepEqual(c.ws.subscriptions, []);
  await reconnect(c);
  assert.equal(c.socket().requests("channel.subscribe").length, 0);
  c.ws.close();
});

test("a subscribe cut by a dropped socket is sent again at the next open", async () => {
  const c = await connected();
  const pending = c.ws.subscribe("room:d");
  await reconnect(c);
  assert.equal(c.socket().requests("channel.subscribe").length, 1);
  c.socket().reply("channel.subscribe", {channel: "room:d", subscribed: true});
  assert.deepEqual(await pending, {channel: "room:d", subscribed: true});
  c.ws.close();
});
