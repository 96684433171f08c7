// The room page: connects with ws-routes.js, shows messages, who is online, and server errors.
(function () {
  "use strict";

  var page = document.getElementById("chat");
  var messages = document.getElementById("messages");
  var online = document.getElementById("online");
  var status = document.getElementById("status");
  var errorBox = document.getElementById("error");
  var form = document.getElementById("send-form");
  var input = document.getElementById("text");
  var button = document.getElementById("send");
  var me = document.getElementById("me").textContent;

  var ws = new WsRoutes({
    url: page.dataset.websocketUrl,
    tokenUrl: page.dataset.tokenUrl,
    csrfToken: page.dataset.csrfToken,
    channel: page.dataset.room,
  });

  function setStatus(text, isOpen) {
    status.textContent = text;
    status.classList.toggle("open", Boolean(isOpen));
  }

  // Text only (textContent), never HTML: messages come from other users.
  function addLine(className, from, text) {
    var item = document.createElement("li");
    item.className = className;
    if (from) {
      var name = document.createElement("span");
      name.className = "from";
      name.textContent = from;
      item.appendChild(name);
      item.appendChild(document.createTextNode(" "));
    }
    item.appendChild(document.createTextNode(text));
    messages.appendChild(item);
    messages.scrollTop = messages.scrollHeight;
  }

  function showError(error) {
    var details = Array.isArray(error.details) ? error.details.map(function (d) {
      return d.path + ": " + d.message;
    }) : [];
    errorBox.textContent = error.code + ": " + error.message +
      (details.length ? " (" + details.join("; ") + ")" : "");
    errorBox.hidden = false;
  }

  function showOnline(names) {
    online.replaceChildren.apply(online, names.map(function (name) {
      var item = document.createElement("li");
      item.textContent = name;
      return item;
    }));
  }

  function refreshOnline() {
    ws.request("chat.who").then(function (data) {
      showOnline(data.online);
    }, function (error) {
      if (error.code !== "connection_closed") showError(error);
    });
  }

  // A join is announced while the newcomer's $connect is still running, before its session
  // is saved (API Gateway opens the socket only when $connect returns), so chat.who may not
  // list it yet: take the name from the announcement itself.
  function addOnline(name) {
    var names = Array.prototype.map.call(online.children, function (item) {
      return item.textContent;
    });
    if (names.indexOf(name) === -1) showOnline(names.concat([name]).sort());
  }

  ws.on("open", function () {
    setStatus("connected", true);
    refreshOnline();
  });
  ws.on("close", function (event) {
    setStatus(event.willReconnect ? "reconnecting…" : "disconnected");
  });
  ws.on("reconnecting", function (event) {
    setStatus("reconnecting in " + Math.ceil(event.delay / 1000) + " s…");
  });
  ws.on("error", function (error) {
    if (error.fatal) setStatus("disconnected: " + error.message);
  });
  ws.on("message", function (push) {
    if (push && push.type === "chat.message") {
      addLine(push.from === me ? "mine" : "", push.from, push.text);
    } else if (push && push.type === "presence") {
      addLine("system", "", push.user + (push.event === "join" ? " joined" : " left"));
      if (push.event === "join") addOnline(push.user);
      else refreshOnline();  // the leaver's session is closed already; another tab may remain
    }
  });

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    errorBox.hidden = true;
    button.disabled = true;
    ws.request("chat.send", {text: input.value}).then(function () {
      input.value = "";
    }, showError).finally(function () {
      button.disabled = false;
      input.focus();
    });
  });

  // Leave the room when the page goes away (the browser may keep it, socket open, in its
  // back/forward cache) and rejoin if it comes back from there.
  window.addEventListener("pagehide", function () {
    ws.close(1000, "page hidden");
  });
  window.addEventListener("pageshow", function (event) {
    if (event.persisted) ws.connect();
  });

  ws.connect();
})();
