// The room page: one socket, following this room (and any other the user adds) as
// room:<name> channels with presence and history, through ws-routes.js.
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
  var followForm = document.getElementById("follow-form");
  var followInput = document.getElementById("follow");
  var following = document.getElementById("following");
  var me = document.getElementById("me").textContent;
  var room = page.dataset.room;
  var channel = "room:" + room;

  var ws = new WsRoutes({
    url: page.dataset.websocketUrl,
    tokenUrl: page.dataset.tokenUrl,
    csrfToken: page.dataset.csrfToken,
  });
  window.chatClient = ws; // for the browser test and the console

  function setStatus(text, isOpen) {
    status.textContent = text;
    status.classList.toggle("open", Boolean(isOpen));
  }

  // Text only (textContent), never HTML: messages come from other users.
  function addLine(className, from, text, otherRoom) {
    var item = document.createElement("li");
    item.className = className;
    if (otherRoom) {
      var tag = document.createElement("span");
      tag.className = "room-tag";
      tag.textContent = "#" + otherRoom;
      item.appendChild(tag);
      item.appendChild(document.createTextNode(" "));
    }
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
    ws.request("chat.who", {room: room}).then(function (data) {
      showOnline(data.online);
    }, function (error) {
      if (["connection_closed", "not_connected", "not_in_room"].indexOf(error.code) === -1) {
        showError(error);
      }
    });
  }

  function showFollowing() {
    following.replaceChildren.apply(following, ws.subscriptions.map(function (name) {
      var item = document.createElement("li");
      item.textContent = "#" + name.slice("room:".length);
      return item;
    }));
  }

  function follow(name) {
    return ws.subscribe("room:" + name, {history: true}).then(function () {
      showFollowing();
      if (name === room) refreshOnline();
    }, showError);
  }

  ws.on("open", function () {
    setStatus("connected", true);
    if (ws.subscriptions.indexOf(channel) !== -1) refreshOnline();
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
      var other = push.channel === channel ? "" : push.room;
      addLine(push.from === me ? "mine" : "", push.from, push.text, other);
    }
  });
  // Presence: the library pushes joins once the subscription is visible, so chat.who lists
  // the newcomer; a leave may leave another tab of the same user behind.
  ws.on("presence", function (push) {
    if (push.channel !== channel) return;
    var name = push.user && push.user.username;
    addLine("system", "", name + (push.event === "join" ? " joined" : " left"));
    refreshOnline();
  });
  ws.on("gap", function (gap) {
    if (gap.channel === channel) addLine("system", "", "(older messages are no longer kept)");
  });

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    errorBox.hidden = true;
    button.disabled = true;
    ws.request("chat.send", {room: room, text: input.value}).then(function () {
      input.value = "";
    }, showError).finally(function () {
      button.disabled = false;
      input.focus();
    });
  });

  followForm.addEventListener("submit", function (event) {
    event.preventDefault();
    errorBox.hidden = true;
    var name = followInput.value.trim();
    if (name) follow(name).then(function () { followInput.value = ""; });
  });

  // Leave when the page goes away (the browser may keep it, socket open, in its
  // back/forward cache) and come back, resuming, if it returns from there.
  window.addEventListener("pagehide", function () {
    ws.close(1000, "page hidden");
  });
  window.addEventListener("pageshow", function (event) {
    if (event.persisted) ws.connect();
  });

  follow(room);
  ws.connect();
})();
