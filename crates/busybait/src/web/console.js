// The console's only script of its own: starts the replay player on a session's
// page and adds new sessions to the session list as they arrive. Every value it
// shows is set as text (textContent), never as markup.
"use strict";

function startReplay() {
  const replay = document.getElementById("replay");
  if (!replay || !window.AsciinemaPlayer) {
    return;
  }
  window.AsciinemaPlayer.create(replay.dataset.cast, replay, {
    fit: "width",
    idleTimeLimit: 2,
    autoPlay: true,
  });
}

// A cell holding `text`, in a link to `href` if given, as code if `code`.
function cell(row, text, href, code) {
  const td = document.createElement("td");
  let inner = td;
  if (href) {
    inner = document.createElement("a");
    inner.href = href;
    td.appendChild(inner);
  }
  if (code) {
    const c = document.createElement("code");
    inner.appendChild(c);
    inner = c;
  }
  inner.textContent = text;
  row.appendChild(td);
  return td;
}

function followSessions() {
  const table = document.querySelector("table.sessions[data-live]");
  if (!table || !window.EventSource) {
    return;
  }
  let body = table.querySelector("tbody");
  if (!body) {
    body = document.createElement("tbody");
    table.appendChild(body);
  }
  const source = new EventSource(table.dataset.live);
  source.addEventListener("ready", () => {
    table.dataset.following = "yes";
  });
  source.addEventListener("session", (event) => {
    const s = JSON.parse(event.data);
    if (!/^[0-9a-f]{12}$/.test(s.id)) {
      return;
    }
    const row = document.createElement("tr");
    row.className = "new";
    cell(row, s.started);
    const src = cell(row, s.src, "/sessions?src=" + encodeURIComponent(s.src));
    if (s.origin) {
      const origin = document.createElement("span");
      origin.className = "origin";
      origin.textContent = s.origin;
      src.appendChild(origin);
    }
    cell(row, s.protocol);
    cell(row, s.login, null, s.login !== "—");
    cell(row, String(s.commands)).className = "n";
    cell(row, s.family);
    cell(row, s.duration);
    cell(row, s.id, "/sessions/" + s.id, true);
    body.insertBefore(row, body.firstChild);
    const empty = document.querySelector("p.empty");
    if (empty) {
      empty.remove();
    }
  });
}

document.addEventListener("DOMContentLoaded", () => {
  startReplay();
  followSessions();
});
