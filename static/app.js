// The reference web client of chatty: plain browser JavaScript, no build step.
//
// Live updates come from the Server-Sent Events stream (`/api/loggedonly/events`); where that
// is unavailable or fails, from the long poll with a client-held cursor
// (`/api/loggedonly/poll?after=<id>&limit=N`). Both resume from the last event id applied, and
// every snapshot (getChats, joinChat) says which event it reflects (`Chatty-Event-Id`), so the
// client neither misses nor applies twice anything that happens while it loads.
"use strict";

const EVENT_TYPES = [
  "LoginEvent", "LogoutEvent", "ChatJoinEvent", "ChatLeaveEvent",
  "SystemMessageChatJoinEvent", "SystemMessageChatLeaveEvent",
  "ChatCreatedEvent", "ChatRemovedEvent", "MessageEvent", "ResyncEvent",
];
const KEEPALIVE_MS = 10_000;
const RETRY_MS = 2_000;
const POLL_BATCH = 100;

class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

/** One API call: JSON in, JSON out, `{"error": ...}` bodies become an ApiError. */
async function call(method, path, body, signal) {
  const init = { method, credentials: "same-origin", signal };
  if (body !== undefined) {
    init.headers = { "Content-Type": "application/json" };
    init.body = JSON.stringify(body);
  }
  const res = await fetch(path, init);
  const text = await res.text();
  let data = null;
  if (text) {
    try { data = JSON.parse(text); } catch { data = null; }
  }
  if (!res.ok) {
    throw new ApiError(res.status, (data && data.error) || `${res.status} ${res.statusText}`);
  }
  const id = res.headers.get("Chatty-Event-Id");
  return { data, eventId: id === null ? null : Number(id) };
}

// ---------------------------------------------------------------------------------------
// State

const state = {
  me: null,            // {user, verified, admin, bot}
  chats: new Map(),    // name → {name, joined, entries: [], messageIds: Set, users: Map}
  selected: null,      // chat name
  cursor: 0,           // the last event id applied
  live: null,          // {stop()} of the running transport
  keepalive: null,
};

const $ = (selector) => document.querySelector(selector);

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key === "class") node.className = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (key in node) node[key] = value;
    else node.setAttribute(key, value);
  }
  for (const child of children) node.append(child);
  return node;
}

function notify(text, isError = false) {
  const box = $("#notice");
  box.textContent = text;
  box.classList.toggle("error", isError);
  box.hidden = !text;
}

function chatFromReport(report) {
  const chat = {
    name: report.chat,
    joined: report.joined,
    entries: [],
    messageIds: new Set(),
    users: new Map(),
  };
  for (const message of report.messages || []) addMessage(chat, message);
  for (const user of report.users || []) chat.users.set(user.user, user);
  return chat;
}

function addMessage(chat, message) {
  if (chat.messageIds.has(message.id)) return false;
  chat.messageIds.add(message.id);
  chat.entries.push({ kind: "message", ...message });
  return true;
}

// ---------------------------------------------------------------------------------------
// Rendering (text only: nothing a user typed is ever parsed as HTML)

function render() {
  const me = state.me;
  $("#auth").hidden = !!me;
  $("#chat").hidden = !me;
  $("#logout").hidden = !me;
  $("#whoami").hidden = !me;
  if (!me) return;
  $("#whoami").textContent = me.user + (me.admin ? " (admin)" : me.verified ? "" : " (guest)");
  $("#create-chat-form").hidden = !me.admin;
  renderChats();
  renderRoom();
}

function renderChats() {
  const list = $("#chats");
  const names = [...state.chats.keys()].sort((a, b) => a.localeCompare(b));
  list.replaceChildren(...names.map((name) => {
    const chat = state.chats.get(name);
    const item = el("li", { class: [chat.joined && "joined", state.selected === name && "selected"].filter(Boolean).join(" ") });
    item.dataset.chat = name;
    item.append(el("span", { class: "name", title: name, onclick: () => select(name) }, name));
    item.append(chat.joined
      ? el("button", { type: "button", class: "quiet leave", onclick: () => leave(name) }, "Leave")
      : el("button", { type: "button", class: "quiet join", onclick: () => join(name) }, "Join"));
    if (state.me.admin) {
      item.append(el("button", { type: "button", class: "quiet danger remove", title: "Remove chat", onclick: () => removeChat(name) }, "×"));
    }
    return item;
  }));
}

function renderRoom() {
  const chat = state.selected && state.chats.get(state.selected);
  $("#room-title").textContent = chat ? chat.name : "Pick a chat";
  $("#post-form").hidden = !(chat && chat.joined);
  const list = $("#messages");
  if (!chat || !chat.joined) {
    list.replaceChildren();
    $("#members").replaceChildren();
    return;
  }
  const atBottom = list.scrollTop + list.clientHeight >= list.scrollHeight - 4;
  list.replaceChildren(...chat.entries.map(renderEntry));
  if (atBottom) list.scrollTop = list.scrollHeight;
  const users = [...chat.users.values()].sort((a, b) => a.user.localeCompare(b.user));
  $("#members").replaceChildren(...users.map((u) =>
    el("li", { class: u.verified ? "verified" : "" }, u.user)));
}

function renderEntry(entry) {
  const time = el("span", { class: "time" }, new Date(entry.time * 1000).toLocaleTimeString());
  if (entry.kind === "system") {
    return el("li", { class: "system" }, time, entry.text);
  }
  const item = el("li", { class: "message" + (entry.bot ? " bot" : "") },
    time,
    el("span", { class: "author" + (entry.verified ? " verified" : "") }, entry.user),
    el("span", { class: "text" }, entry.text));
  item.dataset.id = entry.id;
  return item;
}

// ---------------------------------------------------------------------------------------
// Events

function applyEnvelope(envelope) {
  if (typeof envelope.id === "number") {
    if (envelope.id <= state.cursor) return; // already applied (a resumed stream may repeat)
    state.cursor = envelope.id;
  }
  const event = envelope.event || {};
  const chat = event.chat !== undefined ? state.chats.get(event.chat) : undefined;
  switch (envelope.type) {
    case "MessageEvent":
      if (chat && chat.joined) addMessage(chat, event);
      break;
    case "SystemMessageChatJoinEvent":
    case "SystemMessageChatLeaveEvent":
      if (chat && chat.joined) {
        const verb = envelope.type === "SystemMessageChatJoinEvent" ? "joined" : "left";
        chat.entries.push({ kind: "system", time: event.time, text: `${event.user} ${verb} chat ${event.chat}` });
      }
      break;
    case "ChatJoinEvent":
      if (chat) {
        chat.users.set(event.user, event);
        if (event.user === state.me.user) chat.joined = true;
      }
      break;
    case "ChatLeaveEvent":
      if (chat) chat.users.delete(event.user);
      break;
    case "ChatCreatedEvent":
      if (!chat) state.chats.set(event.chat, chatFromReport({ chat: event.chat, joined: false }));
      break;
    case "ChatRemovedEvent":
      state.chats.delete(event.chat);
      if (state.selected === event.chat) state.selected = null;
      break;
    case "ResyncEvent":
      // Retention dropped events this client never saw: start again from a snapshot.
      loadChats().catch(failed);
      return;
    default:
      return; // login and logout are announced through join and leave events
  }
  render();
}

/** Live updates through SSE; the browser's EventSource reconnects with `Last-Event-ID`. */
function openStream() {
  const source = new EventSource(`/api/loggedonly/events?after=${state.cursor}`);
  const live = { stop: () => source.close() };
  for (const type of EVENT_TYPES) {
    source.addEventListener(type, (e) => applyEnvelope(JSON.parse(e.data)));
  }
  source.onopen = () => showLive("live", "stream");
  source.onerror = async () => {
    if (source.readyState !== EventSource.CLOSED) {
      showLive("reconnecting…", "off");
      return; // the browser retries by itself
    }
    // The server refused the stream: ended session, or a proxy that does not pass it.
    if (state.live !== live) return;
    if (await sessionAlive()) {
      state.live = pollLoop();
    }
  };
  return live;
}

/** Live updates through the long poll with a client-held cursor, one batch per request. */
function pollLoop() {
  const control = new AbortController();
  const live = { stop: () => control.abort() };
  showLive("live", "poll");
  (async () => {
    while (!control.signal.aborted) {
      try {
        const { data } = await call("GET", `/api/loggedonly/poll?after=${state.cursor}&limit=${POLL_BATCH}`, undefined, control.signal);
        showLive("live", "poll");
        for (const envelope of Array.isArray(data) ? data : []) applyEnvelope(envelope);
      } catch (err) {
        if (control.signal.aborted) return;
        if (err instanceof ApiError && err.status === 401) return signedOut("Your session ended.");
        showLive("reconnecting…", "off");
        await new Promise((resolve) => setTimeout(resolve, RETRY_MS));
      }
    }
  })();
  return live;
}

function showLive(text, how) {
  const badge = $("#live");
  badge.textContent = how === "off" ? text : `${text} (${how === "stream" ? "stream" : "long poll"})`;
  badge.className = "live " + how;
}

function startLive() {
  stopLive();
  const transport = new URLSearchParams(location.search).get("transport");
  state.live = window.EventSource && transport !== "poll" ? openStream() : pollLoop();
}

function stopLive() {
  if (state.live) state.live.stop();
  state.live = null;
  showLive("offline", "off");
}

async function sessionAlive() {
  try {
    await call("PUT", "/api/loggedonly/keepalive");
    return true;
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) {
      signedOut("Your session ended.");
      return false;
    }
    return true;
  }
}

// ---------------------------------------------------------------------------------------
// Actions

async function loadChats() {
  const { data, eventId } = await call("GET", "/api/loggedonly/getChats");
  state.chats = new Map(data.map((report) => [report.chat, chatFromReport(report)]));
  if (state.selected && !state.chats.has(state.selected)) state.selected = null;
  if (!state.selected) {
    const joined = data.find((report) => report.joined);
    state.selected = joined ? joined.chat : null;
  }
  const resumed = state.live !== null;
  state.cursor = eventId ?? state.cursor;
  render();
  if (resumed) startLive(); // a resync moves the cursor: restart the transport from it
}

async function signedIn(me) {
  state.me = me;
  state.cursor = 0;
  notify("");
  await loadChats();
  startLive();
  clearInterval(state.keepalive);
  state.keepalive = setInterval(sessionAlive, KEEPALIVE_MS);
}

function signedOut(reason = "") {
  stopLive();
  clearInterval(state.keepalive);
  state.me = null;
  state.chats = new Map();
  state.selected = null;
  render();
  notify(reason);
}

function select(name) {
  state.selected = name;
  render();
}

async function join(name) {
  const { data } = await call("POST", "/api/loggedonly/joinChat", { chat: name });
  const chat = chatFromReport(data);
  const known = state.chats.get(name);
  // Events that arrived while the request was on its way are already in `known`.
  if (known) for (const entry of known.entries) if (entry.kind === "system") chat.entries.push(entry);
  state.chats.set(name, chat);
  state.selected = name;
  render();
}

async function leave(name) {
  await call("POST", "/api/loggedonly/leaveChat", { chat: name });
  const chat = state.chats.get(name);
  if (chat) state.chats.set(name, chatFromReport({ chat: name, joined: false }));
  render();
}

async function removeChat(name) {
  await call("POST", "/api/adminonly/removeChat", { chat: name });
  state.chats.delete(name);
  if (state.selected === name) state.selected = null;
  render();
}

function failed(err) {
  if (err instanceof ApiError && err.status === 401 && state.me) return signedOut("Your session ended.");
  notify(err.message, true);
}

/** Runs a form's action with its fields; errors are shown, the form is reset on success. */
function onSubmit(selector, action) {
  const form = $(selector);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const fields = Object.fromEntries(new FormData(form));
    const button = form.querySelector("button");
    button.disabled = true;
    try {
      const done = await action(fields, form);
      if (done !== false) form.reset();
    } catch (err) {
      failed(err);
    } finally {
      button.disabled = false;
    }
  });
}

function showTab(name) {
  for (const button of document.querySelectorAll(".tabs button")) {
    button.classList.toggle("active", button.dataset.tab === name);
  }
  for (const tab of document.querySelectorAll("#auth .tab")) tab.hidden = tab.dataset.tab !== name;
}

function wire() {
  for (const button of document.querySelectorAll(".tabs button")) {
    button.addEventListener("click", () => showTab(button.dataset.tab));
  }

  onSubmit("#guest-form", async ({ user }) => {
    try {
      await signedIn((await call("POST", "/api/login", { user })).data);
    } catch (err) {
      // This browser may already hold that name's session (a reload): resume it.
      if (!(err instanceof ApiError && err.status === 409)) throw err;
      const resumed = await call("POST", "/api/loggedonly/login", {}).catch(() => null);
      if (!resumed || resumed.data.user.toLowerCase() !== user.toLowerCase()) throw err;
      await signedIn(resumed.data);
    }
  });

  onSubmit("#signin-form", async ({ user, password }) => {
    await signedIn((await call("POST", "/api/authorize", { user, password })).data);
  });

  onSubmit("#register-form", async ({ user, email, password }) => {
    await call("POST", "/api/register", { user, email, password });
    showTab("verify");
    notify(`Welcome, ${user}! We sent an activation link to ${email}: open it or paste it here.`);
  });

  onSubmit("#verify-form", async ({ link }) => {
    const match = /\/api\/verifyEmail\/([^/?#]+)\/([^/?#]+)/.exec(link.trim());
    if (!match) {
      notify("That is not an activation link: it ends in /api/verifyEmail/<name>/<token>.", true);
      return false;
    }
    await call("GET", `/api/verifyEmail/${match[1]}/${match[2]}`);
    showTab("signin");
    $("#signin-form [name=user]").value = decodeURIComponent(match[1]);
    notify("Your e-mail address is verified: sign in.");
  });

  onSubmit("#resend-form", async ({ user }) => {
    await call("POST", "/api/resendVerification", { user });
    notify("If that account waits for verification, a new link is on its way.");
  });

  onSubmit("#reset-request-form", async ({ user }) => {
    await call("POST", "/api/requestResetPassword", { user });
    $("#reset-form [name=user]").value = user;
    notify("If that account exists, a reset token is on its way.");
  });

  onSubmit("#reset-form", async ({ user, token, password }) => {
    await call("POST", "/api/resetPassword", { user, passwordResetToken: token, password });
    showTab("signin");
    $("#signin-form [name=user]").value = user;
    notify("Password changed: sign in with the new one.");
  });

  onSubmit("#post-form", async ({ text }) => {
    const chat = state.chats.get(state.selected);
    if (!chat) return false;
    const { data } = await call("POST", "/api/loggedonly/postMessage", { chat: chat.name, text });
    if (addMessage(chat, data)) render();
  });

  onSubmit("#create-chat-form", async ({ chat }) => {
    await call("POST", "/api/adminonly/createChat", { chat });
    if (!state.chats.has(chat)) state.chats.set(chat, chatFromReport({ chat, joined: false }));
    render();
  });

  $("#logout").addEventListener("click", async () => {
    try {
      await call("POST", "/api/loggedonly/logout");
    } catch {
      // Already ended on the server: the outcome is the same.
    }
    signedOut("Logged out.");
  });

  // Join/leave/remove buttons report their errors here.
  window.addEventListener("unhandledrejection", (e) => {
    e.preventDefault();
    failed(e.reason);
  });
}

async function boot() {
  wire();
  // A reset mail links here with `?user=&token=` (config `ResetFormUrl`).
  const params = new URLSearchParams(location.search);
  if (params.get("token")) {
    showTab("reset");
    $("#reset-form [name=user]").value = params.get("user") || "";
    $("#reset-form [name=token]").value = params.get("token");
  }
  try {
    // Resume the session this browser already has, as the original client did.
    await signedIn((await call("POST", "/api/loggedonly/login", {})).data);
  } catch {
    signedOut();
  }
  document.body.dataset.ready = "true";
}

boot();
