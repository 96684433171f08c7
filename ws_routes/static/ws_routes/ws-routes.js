/*! ws-routes.js: the browser client of django-ws-routes. No dependencies.
 *
 * Load it with a plain <script> (it defines `WsRoutes`) or require() it (CommonJS):
 *
 *   <script src="{% static 'ws_routes/ws-routes.js' %}"></script>
 *   <script>
 *     const ws = new WsRoutes({
 *       url: "wss://ws.example.com/production", // API Gateway's URL (or the local gateway's)
 *       tokenUrl: "/ws/token/",                  // <mount>/token/: one-time connect tokens
 *       csrfToken: "{{ csrf_token }}",           // the token view is CSRF-protected
 *       channel: "lobby",                        // ?channel= on connect
 *     });
 *     ws.on("message", (push) => console.log("pushed", push));
 *     ws.connect();
 *     const data = await ws.request("chat.send", {text: "hi"}); // the reply's "data"
 *     ws.send("chat.typing", {});                               // no reply awaited
 *   </script>
 *
 * Each (re)connect POSTs to tokenUrl for a fresh token (tokens are single use), then opens
 * `url?token=...&channel=...`. A lost connection is retried with exponential backoff and full
 * jitter (a random delay in [0, min(maxDelay, minDelay * 2^attempt)) ms) until close().
 *
 * What the server sends is one of:
 * - a reply, built by the library's view: {"action", "id", "data"} or {"action", "id",
 *   "error": {"code", "message", "details"}}. One whose "id" is a pending request() settles
 *   it; every reply is also emitted as a "reply" event (an error reply to send(), which has
 *   no id, is emitted as an "error" event too).
 * - a push, whatever the server passed to session.send(data): emitted as a "message" event
 *   (parsed JSON, or the raw text when the frame is not JSON). Give pushes a "type" field
 *   and no "action": a push made only of "action"/"id"/"data"/"error" would read as a reply.
 *
 * - an error frame of API Gateway itself ({"message", "connectionId", "requestId"}), when the
 *   integration failed or timed out or a model refused the body: it rejects the OLDEST pending
 *   request() (AWS's frame names no request) with a WsRoutesError of code "gateway_error", or
 *   is emitted as an "error" event when nothing is pending.
 *
 * Events: "open" (), "close" ({code, reason, wasClean, willReconnect}), "message" (push),
 * "reply" (reply), "error" (WsRoutesError), "reconnecting" ({attempt, delay}),
 * "presence" ({channel, event: "join"|"leave", user}), "gap" ({channel, seq}).
 *
 * Channels (the server enables the channel.* routes, see docs/channels.md):
 *
 *   await ws.subscribe("room:kitchen", {history: true}); // history: also the kept messages
 *   ws.on("presence", (p) => console.log(p.user.username, p.event, p.channel));
 *   ws.on("gap", (g) => location.reload());  // missed more than the channel keeps
 *   ws.unsubscribe("room:kitchen");
 *
 * The client remembers its subscriptions and the last "seq" of each channel; after every
 * reconnect it subscribes again with since=<last seq>, emits what it missed as "message"
 * events, in order, before the pushes that arrived meanwhile, and drops duplicates.
 *
 * A page left for another may be kept, socket open, in the browser's back/forward cache: close
 * on "pagehide" and connect again on a "pageshow" whose event.persisted is true.
 */
(function (root, factory) {
  "use strict";
  if (typeof module === "object" && module.exports) {
    module.exports = factory();
  } else {
    root.WsRoutes = factory();
  }
})(typeof globalThis !== "undefined" ? globalThis : this, function () {
  "use strict";

  var SOCKET_OPEN = 1;
  var EVENTS = ["open", "close", "message", "reply", "error", "reconnecting", "presence", "gap"];
  var REPLY_KEYS = ["action", "id", "data", "error"];

  /** An error with the server's shape: code, message, details (plus action/id/reply/status). */
  class WsRoutesError extends Error {
    constructor(code, message, details, extra) {
      super(message || code);
      this.name = "WsRoutesError";
      this.code = code;
      this.details = details === undefined ? null : details;
      if (extra) Object.assign(this, extra);
    }
  }

  function isPlainObject(value) {
    return value !== null && typeof value === "object" && !Array.isArray(value);
  }

  /** Whether a parsed frame is shaped like a reply of the library's view. */
  function isReply(frame) {
    if (!isPlainObject(frame) || !Object.prototype.hasOwnProperty.call(frame, "action")) {
      return false;
    }
    var keys = Object.keys(frame);
    for (var i = 0; i < keys.length; i++) {
      if (REPLY_KEYS.indexOf(keys[i]) === -1) return false;
    }
    return ("data" in frame) !== ("error" in frame);
  }

  function errorFromReply(reply) {
    var error = reply.error;
    var extra = {action: reply.action, id: reply.id, reply: reply};
    if (isPlainObject(error) && typeof error.code === "string") {
      var message = typeof error.message === "string" ? error.message : error.code;
      return new WsRoutesError(error.code, message, error.details, extra);
    }
    return new WsRoutesError("invalid_reply", "The server sent a malformed error", null, extra);
  }

  /** Text of a frame (string, ArrayBuffer or typed array), then its JSON if it parses. */
  // API Gateway's own error frames, sent instead of the integration's answer when it fails,
  // times out or a model refuses the body: {"message": "Internal server error" | "Endpoint
  // request timed out" | "Bad request body" | "Forbidden", "connectionId", "requestId" or
  // "messageId"} (docs/aws-fidelity.md). They carry no client id, so they settle the oldest
  // pending request.
  var GATEWAY_FRAME_KEYS = {message: true, connectionId: true, requestId: true, messageId: true};

  function isGatewayErrorFrame(value) {
    if (!isPlainObject(value) || typeof value.message !== "string") return false;
    if (typeof value.connectionId !== "string") return false;
    if (typeof value.requestId !== "string" && typeof value.messageId !== "string") return false;
    return Object.keys(value).every(function (key) { return GATEWAY_FRAME_KEYS[key] === true; });
  }

  function decodeFrame(raw) {
    var text = raw;
    if (typeof raw !== "string") {
      try {
        text = new TextDecoder().decode(raw);
      } catch (error) {
        return {json: false, text: raw};
      }
    }
    try {
      return {json: true, value: JSON.parse(text)};
    } catch (error) {
      return {json: false, text: text};
    }
  }

  function reportListenerError(error) {
    if (typeof reportError === "function") {
      reportError(error); // the browser's console, without breaking the other listeners
    } else if (typeof console !== "undefined") {
      console.error(error);
    }
  }

  function deferred() {
    var settle = {};
    settle.promise = new Promise(function (resolve, reject) {
      settle.resolve = resolve;
      settle.reject = reject;
    });
    settle.promise.catch(function () {}); // connect()'s caller may not await it
    return settle;
  }


  /** Channel names the server accepts: 1-128 of A-Z a-z 0-9 _ . : @ - (CHANNEL_PATTERN). */
  var CHANNEL_NAME = /^[A-Za-z0-9_.:@-]{1,128}$/;
  /** Out-of-order seqs held per channel before giving up on the ones in between. */
  var MAX_AHEAD = 1000;

  /**
   * A WsRoutes client's channels: subscriptions, the last seq per channel, resume after a
   * reconnect (replay first, then the pushes held meanwhile, duplicates dropped), presence.
   */
  class ChannelTracker {
    constructor(client) {
      this.client = client;
      this.channels = new Map();
    }

    names() {
      return Array.from(this.channels.keys());
    }

    lastSeq(name) {
      var entry = this.channels.get(name);
      return entry ? entry.last : null;
    }

    subscribe(name, options) {
      if (typeof name !== "string" || !CHANNEL_NAME.test(name)) {
        return Promise.reject(new TypeError("WsRoutes: invalid channel name " +
          JSON.stringify(name) + " (1-128 characters from A-Z a-z 0-9 _ . : @ -)"));
      }
      if (this.channels.has(name)) return this.channels.get(name).ready.promise;
      var entry = {
        name: name, last: null, ahead: new Set(), resuming: false, held: [],
        history: Boolean(options && options.history), ready: deferred(),
      };
      this.channels.set(name, entry);
      if (this.client.connected) this._request(entry);
      return entry.ready.promise;
    }

    unsubscribe(name) {
      var entry = this.channels.get(name);
      if (!entry) return Promise.resolve({channel: name, subscribed: false});
      this.channels.delete(name);
      entry.ready.reject(new WsRoutesError("unsubscribed", "Unsubscribed before it was done"));
      if (!this.client.connected) return Promise.resolve({channel: name, subscribed: false});
      return this.client.request("channel.unsubscribe", {channel: name}).catch(function (error) {
        if (error.code === "not_subscribed") return {channel: name, subscribed: false};
        throw error;
      });
    }

    /** On every "open": subscribe again to everything, from the last seq seen. */
    resume() {
      var self = this;
      this.channels.forEach(function (entry) { self._request(entry); });
    }

    _since(entry) {
      if (entry.last !== null) return entry.last;
      return entry.history ? 0 : null;
    }

    _request(entry) {
      var self = this;
      var since = this._since(entry);
      var body = {channel: entry.name};
      if (since !== null) body.since = since;
      entry.resuming = since !== null;
      entry.held = [];
      return this.client.request("channel.subscribe", body).then(function (reply) {
        return self._replayed(entry, reply);
      }, function (error) {
        if (error.code === "already_subscribed") {
          // The ?channel= of the connect: subscribed by the server; fetch what was missed.
          if (since === null) return self._done(entry, {channel: entry.name, subscribed: true});
          return self._more(entry, {channel: entry.name, subscribed: true, more: true});
        }
        entry.resuming = false;
        self._flush(entry);
        if (error.code === "connection_closed" || error.code === "not_connected" ||
            error.code === "timeout") {
          return null; // retried at the next "open"
        }
        if (self.channels.get(entry.name) === entry) self.channels.delete(entry.name);
        self.client._emit("error", error);
        entry.ready.reject(error);
        return null;
      });
    }

    _replayed(entry, reply) {
      if (this.channels.get(entry.name) !== entry) return null;
      reply = isPlainObject(reply) ? reply : {};
      if (entry.last === null && typeof reply.seq === "number" && !entry.resuming) {
        entry.last = reply.seq; // a new subscription: count from the channel's current seq
      }
      this._skipGap(entry, reply);
      this._deliverAll(entry, reply.messages);
      if (reply.gap) this.client._emit("gap", {channel: entry.name, seq: reply.seq});
      return this._more(entry, reply);
    }

    _more(entry, reply) {
      var self = this;
      if (!reply.more) return this._done(entry, reply);
      var since = entry.last === null ? 0 : entry.last;
      return this.client.request("channel.history", {channel: entry.name, since: since})
        .then(function (next) {
          if (self.channels.get(entry.name) !== entry) return null;
          next = isPlainObject(next) ? next : {};
          self._skipGap(entry, next);
          self._deliverAll(entry, next.messages);
          if (next.gap) self.client._emit("gap", {channel: entry.name, seq: next.seq});
          return self._more(entry, Object.assign({}, reply, {more: Boolean(next.more)}));
        }, function (error) {
          entry.resuming = false;
          self._flush(entry);
          self.client._emit("error", error);
          return null;
        });
    }

    /** Messages the channel no longer keeps are skipped: count on from what it has. */
    _skipGap(entry, reply) {
      if (!reply.gap) return;
      var messages = Array.isArray(reply.messages) ? reply.messages : [];
      var first = messages.length && isPlainObject(messages[0]) ? messages[0].seq : reply.seq + 1;
      if (typeof first === "number" && Number.isSafeInteger(first)) {
        entry.last = first - 1;
        entry.ahead.clear();
      }
    }

    _done(entry, reply) {
      entry.resuming = false;
      this._flush(entry);
      entry.ready.resolve(reply);
      return reply;
    }

    _deliverAll(entry, messages) {
      if (!Array.isArray(messages)) return;
      for (var i = 0; i < messages.length; i++) this._deliver(entry, messages[i]);
    }

    /** Pushes held while a resume was in flight, in seq order, after the replay. */
    _flush(entry) {
      var held = entry.held.sort(function (a, b) { return a.seq - b.seq; });
      entry.held = [];
      for (var i = 0; i < held.length; i++) this._deliver(entry, held[i]);
    }

    /** A push; true when handled here (presence, or a channel this client follows). */
    receive(push) {
      if (!isPlainObject(push) || typeof push.channel !== "string") return false;
      if (push.type === "presence") {
        this.client._emit("presence", push);
        return true;
      }
      var entry = this.channels.get(push.channel);
      if (!entry) return false;
      if (entry.resuming && typeof push.seq === "number") {
        entry.held.push(push);
      } else {
        this._deliver(entry, push);
      }
      return true;
    }

    _deliver(entry, push) {
      var seq = isPlainObject(push) ? push.seq : undefined;
      if (typeof seq !== "number" || !Number.isSafeInteger(seq) || seq < 1) {
        this.client._emit("message", push);
        return;
      }
      if (entry.last === null) entry.last = seq - 1;
      if (seq <= entry.last || entry.ahead.has(seq)) return; // seen already
      this.client._emit("message", push);
      if (seq === entry.last + 1) {
        entry.last = seq;
        while (entry.ahead.delete(entry.last + 1)) entry.last += 1;
      } else {
        entry.ahead.add(seq);
        if (entry.ahead.size > MAX_AHEAD) {
          entry.last = Math.max.apply(null, Array.from(entry.ahead));
          entry.ahead.clear();
        }
      }
    }
  }

  class WsRoutes {
    /**
     * options: url (required), tokenUrl, csrfToken, channel, selectionKey ("action"),
     * requestTimeout (ms, 10000; also bounds the token fetch), reconnect (true), minDelay (500),
     * maxDelay (30000), tokenParam ("token"), channelParam ("channel"); for tests: WebSocket,
     * fetch, random.
     */
    constructor(options) {
      var merged = Object.assign({}, WsRoutes.defaults, options || {});
      if (typeof merged.url !== "string" || !merged.url) {
        throw new TypeError("WsRoutes: options.url (the WebSocket URL) is required");
      }
      this.options = merged;
      /** "idle" | "connecting" | "open" | "waiting" (to reconnect) | "closed" (by close()). */
      this.state = "idle";
      this.socket = null;
      this._listeners = {};
      for (var i = 0; i < EVENTS.length; i++) this._listeners[EVENTS[i]] = [];
      this._pending = new Map();
      this._lastId = 0;
      this._attempt = 0;
      this._timer = null;
      this._generation = 0; // bumped by every attempt and by close(): stale callbacks see it
      this._opened = null;
      this._channels = new ChannelTracker(this);
    }

    /**
     * Follow a channel (channel.subscribe); resolves with the server's reply data once
     * subscribed (after the next "open" if not connected). options.history: true also asks for
     * the messages the channel keeps (since=0). Re-subscribed after every reconnect.
     */
    subscribe(name, options) {
      return this._channels.subscribe(name, options);
    }

    /** Stop following a channel (channel.unsubscribe) and forget it. */
    unsubscribe(name) {
      return this._channels.unsubscribe(name);
    }

    /** The channels this client follows. */
    get subscriptions() {
      return this._channels.names();
    }

    /** The last seq seen on a history channel (null: none yet). */
    lastSeq(name) {
      return this._channels.lastSeq(name);
    }

    /** Subscribe to an event; returns a function that unsubscribes. */
    on(event, listener) {
      if (!this._listeners[event]) {
        throw new TypeError("WsRoutes: unknown event " + JSON.stringify(event) +
          " (one of " + EVENTS.join(", ") + ")");
      }
      if (typeof listener !== "function") throw new TypeError("WsRoutes: listener must be a function");
      this._listeners[event].push(listener);
      var self = this;
      return function () { self.off(event, listener); };
    }

    off(event, listener) {
      var listeners = this._listeners[event] || [];
      var index = listeners.indexOf(listener);
      if (index !== -1) listeners.splice(index, 1);
    }

    _emit(event) {
      var args = Array.prototype.slice.call(arguments, 1);
      var listeners = this._listeners[event].slice();
      for (var i = 0; i < listeners.length; i++) {
        try {
          listeners[i].apply(this, args);
        } catch (error) {
          reportListenerError(error);
        }
      }
    }

    get connected() {
      return this.state === "open";
    }

    /** Start connecting (and reconnecting); resolves at the next "open". Idempotent. */
    connect() {
      if (this.state === "open") return Promise.resolve(this);
      if (!this._opened) this._opened = deferred();
      var opened = this._opened; // _open() may settle it before returning
      if (this.state === "idle" || this.state === "closed") {
        this._attempt = 0;
        this._open();
      }
      return opened.promise;
    }

    /** Close the socket and stop reconnecting; pending requests reject with connection_closed. */
    close(code, reason) {
      var socket = this.socket;
      this._generation++;
      this.state = "closed";
      clearTimeout(this._timer);
      this._timer = null;
      this.socket = null;
      var error = new WsRoutesError("connection_closed", "The connection was closed by the client");
      this._rejectPending(error);
      if (this._opened) {
        this._opened.reject(error);
        this._opened = null;
      }
      if (socket) {
        try {
          socket.close(code || 1000, reason || "");
        } catch (ignored) {
          // already closing
        }
        this._emit("close", {code: code || 1000, reason: reason || "", wasClean: true,
          willReconnect: false});
      }
    }

    /** Send a message without waiting for a reply; false when not connected. */
    send(action, data) {
      return this._transmit(this._encode(action, data));
    }

    /**
     * Send a message with a fresh "id" and resolve with the reply's "data". Rejects with a
     * WsRoutesError: the server's error (code, message, details), "timeout", "not_connected" or
     * "connection_closed". The route must return a value: a handler returning None sends no
     * reply, and the request times out.
     */
    request(action, data, options) {
      var id = "r" + (++this._lastId);
      var text;
      try {
        text = this._encode(action, data, id);
      } catch (error) {
        return Promise.reject(error);
      }
      var self = this;
      var timeout = (options && options.timeout) || this.options.requestTimeout;
      return new Promise(function (resolve, reject) {
        var timer = setTimeout(function () {
          self._pending.delete(id);
          reject(new WsRoutesError("timeout", "No reply to " + action + " within " + timeout + " ms",
            null, {action: action, id: id}));
        }, timeout);
        self._pending.set(id, {resolve: resolve, reject: reject, timer: timer, action: action});
        if (!self._transmit(text)) {
          clearTimeout(timer);
          self._pending.delete(id);
          reject(new WsRoutesError("not_connected", "Not connected", null, {action: action, id: id}));
        }
      });
    }

    _encode(action, data, id) {
      if (typeof action !== "string" || !action) {
        throw new TypeError("WsRoutes: action must be a non-empty string");
      }
      if (data !== undefined && data !== null && !isPlainObject(data)) {
        throw new TypeError("WsRoutes: data must be an object");
      }
      var frame = Object.assign({}, data);
      frame[this.options.selectionKey] = action;
      if (id !== undefined) frame.id = id;
      return JSON.stringify(frame);
    }

    _transmit(text) {
      var socket = this.socket;
      if (this.state !== "open" || !socket || socket.readyState !== SOCKET_OPEN) return false;
      socket.send(text);
      return true;
    }

    async _open() {
      var generation = ++this._generation;
      this.state = "connecting";
      var token = null;
      if (this.options.tokenUrl) {
        try {
          token = await this._fetchToken();
        } catch (error) {
          if (generation !== this._generation) return;
          this._emit("error", error);
          if (error.fatal) {
            this._stop(error);
          } else {
            this._scheduleReconnect();
          }
          return;
        }
        if (generation !== this._generation) return; // close() or another attempt meanwhile
      }
      var socket;
      try {
        var Socket = this.options.WebSocket || globalThis.WebSocket;
        socket = new Socket(this._url(token));
      } catch (error) {
        // A malformed URL: retrying cannot help.
        var failure = new WsRoutesError("invalid_url", String(error && error.message), null,
          {cause: error});
        this._emit("error", failure);
        this._stop(failure);
        return;
      }
      socket.binaryType = "arraybuffer";
      this.socket = socket;
      var self = this;
      socket.onopen = function () {
        if (self.socket !== socket) return;
        self.state = "open";
        self._attempt = 0;
        if (self._opened) {
          self._opened.resolve(self);
          self._opened = null;
        }
        self._emit("open");
        if (self.socket === socket) self._channels.resume();
      };
      socket.onmessage = function (event) {
        if (self.socket === socket) self._receive(event.data);
      };
      socket.onclose = function (event) {
        if (self.socket !== socket) return;
        self.socket = null;
        self._rejectPending(new WsRoutesError("connection_closed",
          "The connection closed before the reply came"));
        var willReconnect = Boolean(self.options.reconnect);
        self.state = "idle";
        self._emit("close", {code: event.code, reason: event.reason, wasClean: event.wasClean,
          willReconnect: willReconnect});
        if (self.state !== "idle") return; // a listener called close() or connect()
        if (willReconnect) {
          self._scheduleReconnect();
        } else {
          self._stop(new WsRoutesError("connection_closed", "The connection closed"));
        }
      };
      socket.onerror = function () {
        // Browsers say nothing useful here; "close" always follows.
      };
    }

    async _fetchToken() {
      var options = this.options;
      var fetchToken = options.fetch || globalThis.fetch;
      var controller = typeof AbortController === "function" ? new AbortController() : null;
      var timer = controller && setTimeout(function () { controller.abort(); },
        options.requestTimeout);
      try {
        var response;
        try {
          response = await fetchToken(options.tokenUrl, {
            method: "POST",
            credentials: "same-origin",
            headers: {"X-CSRFToken": options.csrfToken || "", "Accept": "application/json"},
            signal: controller ? controller.signal : undefined,
          });
        } catch (error) {
          throw new WsRoutesError("token_unavailable",
            "Could not fetch a connect token: " + (error && error.message), null, {cause: error});
        }
        if (!response.ok) {
          // Logged out (401) or CSRF refused (403): asking again cannot help.
          var fatal = response.status === 401 || response.status === 403;
          throw new WsRoutesError(
            response.status === 401 ? "not_authenticated"
              : response.status === 403 ? "forbidden" : "token_unavailable",
            "The token URL answered " + response.status, null,
            {status: response.status, fatal: fatal});
        }
        var body;
        try {
          body = await response.json();
        } catch (error) {
          throw new WsRoutesError("token_unavailable", "The token URL did not answer JSON");
        }
        if (!isPlainObject(body) || typeof body.token !== "string" || !body.token) {
          throw new WsRoutesError("token_unavailable", "The token URL's answer has no token");
        }
        return body.token;
      } finally {
        clearTimeout(timer);
      }
    }

    _url(token) {
      var options = this.options;
      var base = typeof location !== "undefined" ? location.href : undefined;
      var url = new URL(options.url, base);
      if (url.protocol === "http:") url.protocol = "ws:";
      if (url.protocol === "https:") url.protocol = "wss:";
      if (token) url.searchParams.set(options.tokenParam, token);
      if (options.channel) url.searchParams.set(options.channelParam, options.channel);
      return url.toString();
    }

    _scheduleReconnect() {
      var options = this.options;
      var ceiling = Math.min(options.maxDelay, options.minDelay * Math.pow(2, this._attempt));
      var delay = Math.floor(options.random() * ceiling);
      this._attempt += 1;
      this.state = "waiting";
      var generation = this._generation;
      var self = this;
      this._emit("reconnecting", {attempt: this._attempt, delay: delay});
      if (this.state !== "waiting" || generation !== this._generation) return; // a listener acted
      this._timer = setTimeout(function () {
        self._timer = null;
        if (self.state === "waiting" && generation === self._generation) self._open();
      }, delay);
    }

    _stop(error) {
      this.state = "closed";
      if (this._opened) {
        this._opened.reject(error);
        this._opened = null;
      }
    }

    _receive(raw) {
      var frame = decodeFrame(raw);
      if (!frame.json) {
        this._emit("message", frame.text);
        return;
      }
      var value = frame.value;
      if (isGatewayErrorFrame(value)) {
        this._gatewayError(value);
        return;
      }
      if (!isReply(value)) {
        if (!this._channels.receive(value)) this._emit("message", value);
        return;
      }
      var pending = this._pending.get(value.id);
      if (pending) {
        this._pending.delete(value.id);
        clearTimeout(pending.timer);
        if ("error" in value) {
          pending.reject(errorFromReply(value));
        } else {
          pending.resolve(value.data);
        }
      } else if ("error" in value) {
        // The answer to send(), or a late or foreign reply: nobody awaits it.
        this._emit("error", errorFromReply(value));
      }
      this._emit("reply", value);
    }

    /** An AWS error frame: reject the oldest pending request with code "gateway_error". */
    _gatewayError(frame) {
      var details = {connectionId: frame.connectionId,
        requestId: frame.requestId || frame.messageId};
      var oldest = this._pending.entries().next();
      if (oldest.done) {
        this._emit("error", new WsRoutesError("gateway_error", frame.message, details));
        return;
      }
      var id = oldest.value[0];
      var request = oldest.value[1];
      this._pending.delete(id);
      clearTimeout(request.timer);
      request.reject(new WsRoutesError("gateway_error", frame.message, details,
        {action: request.action, id: id}));
    }

    _rejectPending(error) {
      var pending = Array.from(this._pending.entries());
      this._pending.clear();
      for (var i = 0; i < pending.length; i++) {
        var id = pending[i][0];
        var request = pending[i][1];
        clearTimeout(request.timer);
        request.reject(new WsRoutesError(error.code, error.message, null,
          {action: request.action, id: id}));
      }
    }
  }

  WsRoutes.defaults = {
    url: "",
    tokenUrl: null,
    csrfToken: "",
    channel: null,
    selectionKey: "action",
    requestTimeout: 10000,
    reconnect: true,
    minDelay: 500,
    maxDelay: 30000,
    tokenParam: "token",
    channelParam: "channel",
    WebSocket: null,
    fetch: null,
    random: Math.random,
  };
  WsRoutes.WsRoutesError = WsRoutesError;
  return WsRoutes;
});
