// API Gateway's own error frames ({"message", "connectionId", "requestId"|"messageId"}) reject
// the oldest pending request with a WsRoutesError of code "gateway_error" (issue 9, item 10).
//   node --test tests/js/
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
    this.onmessage({data: typeof data === "string" ? data : JSON.stringify(data)});
  }
}
FakeSocket.instances = [];

async function connected(options = {}) {
  FakeSocket.instances = [];
  const ws = new WsRoutes(Object.assign({
    url: "ws://127.0.0.1:8001/production",
    WebSocket: FakeSocket,
    requestTimeout: 5000,
    reconnect: false,
  }, options));
  const events = [];
  for (const name of ["message", "reply", "error"]) {
    ws.on(name, (payload) => events.push([name, payload]));
  }
  const opened = ws.connect();
  const socket = FakeSocket.instances[0];
  socket.open();
  await opened;
  return {ws, socket, events};
}

// The four bodies AWS documents for a WebSocket API's own failures (docs/aws-fidelity.md).
const AWS_MESSAGES = ["Internal server error", "Endpoint request timed out", "Bad request body",
  "Forbidden"];

test("each AWS error frame rejects the pending request at once with gateway_error", async () => {
  for (const message of AWS_MESSAGES) {
    const {ws, socket, events} = await connected();
    const started = Date.now();
    const pending = ws.request("chat.send", {text: "hi"});
    socket.push({message, connectionId: "Ab1=", requestId: "req-1"});
    await assert.rejects(pending, (error) => {
      assert.ok(error instanceof WsRoutesError);
      assert.equal(error.code, "gateway_error");
      assert.equal(error.message, message);
      assert.deepEqual(error.details, {connectionId: "Ab1=", requestId: "req-1"});
      assert.equal(error.action, "chat.send");
      assert.equal(error.id, socket.sent[0].id);
      return true;
    });
    assert.ok(Date.now() - started < 1000, "rejected at once, not after the timeout");
    assert.deepEqual(events, [], "neither a push nor an error event");
    ws.close();
  }
});

test("messageId frames count too; the oldest request is rejected, later ones still resolve",
  async () => {
    const {ws, socket} = await connected();
    const first = ws.request("a");
    const second = ws.request("b");
    const third = ws.request("c");
    socket.push({message: "Internal server error", connectionId: "c1", messageId: "m-1"});
    await assert.rejects(first, (error) => error.code === "gateway_error" && error.action === "a"
      && error.details.requestId === "m-1");
    socket.push({action: "c", id: socket.sent[2].id, data: 3});
    assert.equal(await third, 3);
    socket.push({message: "Endpoint request timed out", connectionId: "c1", requestId: "r-2"});
    await assert.rejects(second, (error) => error.action === "b");
    ws.close();
  });

test("with nothing pending an AWS error frame is an error event, not a push", async () => {
  const {ws, socket, events} = await connected();
  ws.send("chat.typing", {});
  socket.push({message: "Forbidden", connectionId: "c1", requestId: "r-1"});
  assert.equal(events.length, 1);
  assert.equal(events[0][0], "error");
  assert.equal(events[0][1].code, "gateway_error");
  assert.equal(events[0][1].message, "Forbidden");
  ws.close();
});

test("frames that only look like AWS's are pushes and settle nothing", async () => {
  const {ws, socket, events} = await connected({requestTimeout: 60});
  const pending = ws.request("x");
  const lookalikes = [
    {message: "hi"},                                            // no connectionId/requestId
    {message: "hi", connectionId: "c1"},                        // no requestId
    {message: "hi", connectionId: "c1", requestId: "r", extra: 1}, // a key AWS never sends
    {message: 42, connectionId: "c1", requestId: "r"},          // not a string
    {message: "hi", connectionId: ["c1"], requestId: "r"},
    {message: "hi", connectionId: "c1", requestId: null},
    [{message: "hi", connectionId: "c1", requestId: "r"}],      // an array
    "{\"message\": \"Internal server error\"",                  // truncated JSON text
  ];
  for (const frame of lookalikes) socket.push(frame);
  assert.equal(events.filter((e) => e[0] === "message").length, lookalikes.length);
  await assert.rejects(pending, (error) => error.code === "timeout");
  ws.close();
});

test("a flood of error frames rejects each pending request once, then become error events",
  async () => {
    const {ws, socket, events} = await connected();
    const requests = Array.from({length: 50}, (_, i) => ws.request("r" + i));
    const outcomes = requests.map((p) => p.then(() => "resolved", (e) => e.action));
    for (let i = 0; i < 60; i++) {
      socket.push({message: "Internal server error", connectionId: "c1", requestId: "q" + i});
    }
    assert.deepEqual(await Promise.all(outcomes), requests.map((_, i) => "r" + i));
    assert.equal(events.filter((e) => e[0] === "error").length, 10);
    ws.close();
  });
