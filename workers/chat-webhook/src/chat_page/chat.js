// The support chat page's script. Talks to the session API of the same worker:
//   POST /chat/v1/sessions                       a session: {id, token, expires_at}
//   GET  /chat/v1/sessions/:id/ws?after=N        WebSocket, subprotocols chat.v1 + bearer.<token>
//   POST /chat/v1/sessions/:id/messages          the same frames as Server-Sent Events
//   GET  /chat/v1/sessions/:id/messages?after=N  the history
// (voice.js adds the mic: POST …/:id/voice and GET …/:id/messages/:mid/speech.)
// Everything a user or a provider wrote is put on the page as text (textContent, text
// nodes), never parsed as HTML.
(() => {
  "use strict";

  const API = "/chat/v1/sessions";
  const STORE_KEY = "edge-chat.session.v1";
  const BACKOFF_BASE_MS = 500;
  const BACKOFF_CAP_MS = 30000;
  /** WebSocket connects that never opened, in a row, while HTTP works: then use SSE. */
  const WS_FAILURES_BEFORE_SSE = 3;
  const ID_RE = /^[0-9a-f]{32}$/;
  const TOKEN_RE = /^[A-Za-z0-9._-]{1,2048}$/;

  const $ = (id) => document.getElementById(id);
  const ui = {
    body: document.body,
    status: $("status"),
    list: $("messages"),
    typing: $("typing"),
    notice: $("notice"),
    form: $("composer"),
    input: $("input"),
    send: $("send"),
    renew: $("new-chat"),
  };

  const query = new URLSearchParams(location.search);
  const state = {
    session: null,
    /** The highest stored message id seen: what a reconnect asks to continue after. */
    lastId: 0,
    transport: query.get("transport") === "sse" || typeof WebSocket !== "function" ? "sse" : "ws",
    ws: null,
    attempt: 0,
    wsFailures: 0,
    timer: 0,
    ended: false,
    /** Messages not yet echoed by the server: {client_id, content, li, sent}. */
    pending: [],
    /** Bubbles by stored message id. */
    byId: new Map(),
    /** SSE sends run one after another. */
    sseChain: Promise.resolve(),
    renewals: 0,
    cooldownUntil: 0,
  };

  // ---- storage: localStorage, else sessionStorage, else memory (storage can be blocked
  // in a third-party iframe) ----
  const store = (() => {
    for (const name of ["localStorage", "sessionStorage"]) {
      try {
        const s = window[name];
        s.setItem("edge-chat.probe", "1");
        s.removeItem("edge-chat.probe");
        return s;
      } catch (_) {
        /* blocked: try the next */
      }
    }
    const m = new Map();
    return { getItem: (k) => (m.has(k) ? m.get(k) : null), setItem: (k, v) => m.set(k, String(v)), removeItem: (k) => m.delete(k) };
  })();

  function validSession(s) {
    return s && typeof s === "object" && ID_RE.test(s.id) && TOKEN_RE.test(s.token) && Number.isFinite(s.expires_at);
  }

  function storedSession() {
    try {
      const s = JSON.parse(store.getItem(STORE_KEY));
      if (validSession(s) && s.expires_at * 1000 > Date.now() + 10000) return s;
    } catch (_) {
      /* unreadable: a new one */
    }
    store.removeItem(STORE_KEY);
    return null;
  }

  async function createSession() {
    const r = await fetch(API, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: "{}",
      cache: "no-store",
      credentials: "omit",
    });
    if (!r.ok) throw await httpError(r);
    const s = await r.json();
    if (!validSession(s)) throw new ChatError("bad_session", "The chat service answered with an unusable session.");
    store.setItem(STORE_KEY, JSON.stringify({ id: s.id, token: s.token, expires_at: s.expires_at }));
    return s;
  }

  class ChatError extends Error {
    constructor(code, message, status = 0, retryAfter = 0) {
      super(message);
      this.code = code;
      this.status = status;
      this.retryAfter = retryAfter;
    }
  }

  async function httpError(r) {
    let code = "http_" + r.status;
    let message = "The chat service answered " + r.status + ".";
    try {
      const body = await r.json();
      if (body && body.error) {
        code = String(body.error.code || code);
        message = String(body.error.message || message);
      }
    } catch (_) {
      /* not JSON */
    }
    const retryAfter = Number(r.headers.get("retry-after")) || 0;
    return new ChatError(code, message, r.status, retryAfter);
  }

  // ---- rendering: text only ----
  function setState(name, text) {
    ui.body.dataset.state = name;
    ui.body.dataset.transport = state.transport;
    ui.status.textContent = text;
  }

  function nearBottom() {
    return ui.list.scrollHeight - ui.list.scrollTop - ui.list.clientHeight < 80;
  }

  function keepScrolled(wasNear) {
    if (wasNear) ui.list.scrollTop = ui.list.scrollHeight;
  }

  function bubble(role) {
    const li = document.createElement("li");
    li.className = "msg " + (role === "user" ? "user" : "assistant");
    const who = document.createElement("span");
    who.className = "sr-only";
    who.textContent = role === "user" ? "You said: " : "Assistant: ";
    const text = document.createElement("p");
    text.className = "text";
    text.appendChild(document.createTextNode(""));
    const meta = document.createElement("span");
    meta.className = "meta";
    // Tool activity of an assistant message ("Searching the knowledge base…"), above its text.
    const tools = document.createElement("ul");
    tools.className = "tools";
    tools.hidden = true;
    tools.setAttribute("aria-label", "Assistant activity");
    li.append(who, tools, text, meta);
    return li;
  }

  const textOf = (li) => li.querySelector(".text").firstChild;
  const metaOf = (li) => li.querySelector(".meta");

  /** Puts `li` (stored message `id`) in id order. */
  function place(li, id) {
    li.dataset.id = String(id);
    state.byId.set(id, li);
    let after = null;
    for (const other of ui.list.children) {
      const oid = Number(other.dataset.id);
      if (other.dataset.id && oid > id) {
        after = other;
        break;
      }
    }
    if (after) ui.list.insertBefore(li, after);
    else ui.list.insertBefore(li, firstPending());
  }

  const firstPending = () => ui.list.querySelector(".msg.pending");

  function timeLabel(ms) {
    if (!Number.isFinite(ms)) return "";
    try {
      return new Date(ms).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
    } catch (_) {
      return "";
    }
  }

  function validMessage(m) {
    return m && Number.isSafeInteger(m.id) && m.id > 0 && (m.role === "user" || m.role === "assistant") && typeof m.content === "string";
  }

  /** A stored message (history, echo or done): shown once, at its place, with its final text. */
  function showMessage(m) {
    if (!validMessage(m)) return;
    const wasNear = nearBottom();
    let li = state.byId.get(m.id);
    if (!li && m.role === "user" && m.client_id) {
      const i = state.pending.findIndex((p) => p.client_id === m.client_id);
      if (i >= 0) {
        li = state.pending[i].li;
        state.pending.splice(i, 1);
        li.classList.remove("pending");
        li.remove();
        place(li, m.id);
      }
    }
    if (!li) {
      li = bubble(m.role);
      place(li, m.id);
    }
    textOf(li).data = m.content;
    li.removeAttribute("aria-busy");
    metaOf(li).textContent = timeLabel(m.created_at);
    const calls = m.metadata && Array.isArray(m.metadata.tool_calls) ? m.metadata.tool_calls : [];
    for (const c of calls) showToolOn(li, c);
    if (m.id > state.lastId) state.lastId = m.id;
    if (m.role === "assistant") showTyping(false);
    keepScrolled(wasNear);
  }

  /** A piece of assistant message `id`, appended as it arrives. */
  function showDelta(id, text) {
    if (!Number.isSafeInteger(id) || typeof text !== "string") return;
    const wasNear = nearBottom();
    let li = state.byId.get(id);
    if (li && !li.hasAttribute("aria-busy")) return; // already complete
    if (!li) {
      li = bubble("assistant");
      li.setAttribute("aria-busy", "true");
      place(li, id);
    }
    textOf(li).appendData(text);
    showTyping(false);
    keepScrolled(wasNear);
  }

  // ---- tool activity (frames `tool`, and `metadata.tool_calls` of stored answers) ----
  const TOOL_ENDINGS = { started: "", ok: " — done", failed: " — failed", timed_out: " — timed out" };

  /** The line for tool call `c` ({call_id, status, label}): plain text, never markup. */
  function showToolOn(li, c) {
    if (!c || typeof c.call_id !== "string" || typeof c.label !== "string") return;
    if (!Object.prototype.hasOwnProperty.call(TOOL_ENDINGS, c.status)) return;
    const list = li.querySelector(".tools");
    if (!list) return;
    let item = null;
    for (const other of list.children) if (other.dataset.call === c.call_id) item = other;
    if (!item) {
      item = document.createElement("li");
      item.dataset.call = c.call_id;
      list.appendChild(item);
    }
    // A finished call never goes back to "started" (frames and history may cross).
    if (c.status === "started" && item.dataset.status && item.dataset.status !== "started") return;
    item.dataset.status = c.status;
    const label = c.label.slice(0, 200);
    item.textContent = c.status === "started" ? label : label.replace(/…$/, "") + TOOL_ENDINGS[c.status];
    list.hidden = false;
  }

  /** A tool frame of assistant message `id`, which may not have any text yet. */
  function showTool(f) {
    if (!Number.isSafeInteger(f.message_id)) return;
    const wasNear = nearBottom();
    let li = state.byId.get(f.message_id);
    if (!li) {
      li = bubble("assistant");
      li.setAttribute("aria-busy", "true");
      place(li, f.message_id);
    }
    showToolOn(li, f);
    keepScrolled(wasNear);
  }

  function showTyping(on) {
    ui.typing.hidden = !on;
    ui.body.dataset.typing = on ? "true" : "false";
  }

  function showNotice(text) {
    ui.notice.textContent = text;
    ui.notice.hidden = !text;
  }

  function clearConversation() {
    for (const li of [...ui.list.children]) li.remove();
    state.byId.clear();
    state.pending = [];
    state.lastId = 0;
    showTyping(false);
  }

  function setEnded(ended) {
    state.ended = ended;
    ui.input.disabled = ended;
    ui.send.disabled = ended;
    if (ended) {
      showTyping(false);
      setState("ended", "This conversation has ended. Start a new one to continue.");
    }
  }

  // ---- frames (WebSocket frames and SSE events alike) ----
  function onFrame(f) {
    if (!f || typeof f !== "object") return;
    switch (f.type) {
      case "history":
        if (Array.isArray(f.messages)) for (const m of f.messages) showMessage(m);
        // "idle": ended by the alarm after the idle period; neither takes messages.
        if (f.status === "ended" || f.status === "idle") setEnded(true);
        break;
      case "message":
        showMessage(f.message);
        break;
      case "typing":
        showTyping(true);
        break;
      case "delta":
        showDelta(f.message_id, f.text);
        break;
      case "tool":
        showTool(f);
        break;
      case "done":
        showMessage(f.message);
        showTyping(false);
        break;
      case "error":
        onErrorFrame(f);
        break;
      default:
        break;
    }
  }

  const MESSAGES = {
    rate_limited: (s) => "You are sending messages too quickly." + (s ? " Try again in " + s + " s." : ""),
    message_too_long: () => "That message is too long; please shorten it.",
    token_budget_exhausted: (s) => "This conversation has reached its hourly limit." + (s ? " Try again in " + Math.ceil(s / 60) + " min." : ""),
    bad_frame: () => "That message could not be sent.",
  };

  function onErrorFrame(f) {
    const code = String(f.code || "error");
    const retry = Number(f.retry_after) || 0;
    showTyping(false);
    if (code === "session_ended") {
      setEnded(true);
      return;
    }
    if (code === "invalid_session_token" || code === "session_not_found") {
      renewSession("Your previous conversation is no longer available; a new one has started.");
      return;
    }
    // A refusal of what we sent: the oldest unanswered message goes back to the input.
    if (MESSAGES[code]) {
      const p = state.pending.find((x) => x.sent);
      if (p) {
        state.pending.splice(state.pending.indexOf(p), 1);
        p.li.remove();
        if (!ui.input.value) ui.input.value = p.content;
      }
      if (retry) state.cooldownUntil = Date.now() + retry * 1000;
      showNotice(MESSAGES[code](retry));
    } else {
      showNotice(typeof f.message === "string" && f.message ? f.message : "Something went wrong (" + code + ").");
    }
  }

  // ---- WebSocket transport ----
  function wsUrl(s) {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const after = state.lastId > 0 ? "?after=" + state.lastId : "";
    return scheme + "//" + location.host + API + "/" + s.id + "/ws" + after;
  }

  function openSocket() {
    const s = state.session;
    let opened = false;
    let ws;
    try {
      ws = new WebSocket(wsUrl(s), ["chat.v1", "bearer." + s.token]);
    } catch (_) {
      state.transport = "sse";
      return syncHistory();
    }
    state.ws = ws;
    setState("connecting", state.attempt ? "Reconnecting…" : "Connecting…");
    ws.onopen = () => {
      opened = true;
    };
    ws.onmessage = (e) => {
      if (state.ws !== ws) return;
      let f;
      try {
        f = JSON.parse(e.data);
      } catch (_) {
        return;
      }
      if (f && f.type === "history") {
        state.attempt = 0;
        state.wsFailures = 0;
        state.renewals = 0;
        onFrame(f);
        if (!state.ended) setState("online", "Connected");
        flushPending();
        return;
      }
      onFrame(f);
    };
    ws.onclose = (e) => {
      if (state.ws !== ws) return;
      state.ws = null;
      if (e.code === 4401) {
        renewSession("Your previous conversation is no longer available; a new one has started.");
        return;
      }
      // 4410: the session is over; idle or ended keeps its history on screen, a deleted
      // one (after the retention period) is replaced by a new session.
      if (e.code === 4410 && /not_found|deleted/.test(e.reason)) {
        renewSession("Your previous conversation is no longer available; a new one has started.");
        return;
      }
      if (state.ended || e.code === 4410) {
        setEnded(true);
        return;
      }
      for (const p of state.pending) p.sent = false;
      if (opened) scheduleReconnect();
      else probe();
    };
  }

  /**
   * A socket that never opened: the handshake was refused (a bad token is refused
   * before the upgrade) or WebSockets do not get through. The history endpoint tells
   * which, and fills in what was missed meanwhile.
   */
  async function probe() {
    state.wsFailures += 1;
    try {
      await fetchHistory();
      if (state.wsFailures >= WS_FAILURES_BEFORE_SSE) {
        state.transport = "sse";
        setState("online", "Connected (without WebSocket)");
        flushPending();
        return;
      }
    } catch (err) {
      if (err instanceof ChatError && (err.status === 401 || err.status === 404)) {
        renewSession("Your previous conversation is no longer available; a new one has started.");
        return;
      }
    }
    scheduleReconnect();
  }

  function scheduleReconnect() {
    if (state.timer || state.ended) return;
    // Exponential backoff with jitter: half the step fixed, half random.
    const step = Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** state.attempt);
    const delay = Math.round(step / 2 + Math.random() * (step / 2));
    state.attempt += 1;
    setState("reconnecting", "Connection lost. Reconnecting in " + Math.max(1, Math.round(delay / 1000)) + " s…");
    state.timer = setTimeout(() => {
      state.timer = 0;
      connect();
    }, delay);
  }

  function reconnectNow() {
    if (state.transport !== "ws" || state.ws || state.ended || !state.session) return;
    if (state.timer) clearTimeout(state.timer);
    state.timer = 0;
    connect();
  }

  // ---- HTTP (history, and the SSE transport) ----
  function authHeaders(extra) {
    return Object.assign({ authorization: "Bearer " + state.session.token }, extra || {});
  }

  async function fetchHistory() {
    const s = state.session;
    const after = state.lastId > 0 ? "?after=" + state.lastId : "";
    const r = await fetch(API + "/" + s.id + "/messages" + after, { headers: authHeaders(), cache: "no-store", credentials: "omit" });
    if (!r.ok) throw await httpError(r);
    const body = await r.json();
    onFrame({ type: "history", messages: body.messages, status: body.status });
  }

  async function syncHistory() {
    setState("connecting", "Connecting…");
    try {
      await fetchHistory();
      state.attempt = 0;
      if (!state.ended) setState("online", "Connected");
      flushPending();
    } catch (err) {
      if (err instanceof ChatError && (err.status === 401 || err.status === 404)) {
        renewSession("Your previous conversation is no longer available; a new one has started.");
      } else {
        scheduleReconnect();
      }
    }
  }

  /** Reads a text/event-stream body, calling `onEvent(name, data)` per event. */
  async function readEvents(body, onEvent) {
    const reader = body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    let name = "";
    let data = [];
    const line = (l) => {
      if (l === "") {
        if (data.length) onEvent(name || "message", data.join("\n"));
        name = "";
        data = [];
      } else if (l.startsWith(":")) {
        // comment
      } else {
        const i = l.indexOf(":");
        const field = i < 0 ? l : l.slice(0, i);
        let value = i < 0 ? "" : l.slice(i + 1);
        if (value.startsWith(" ")) value = value.slice(1);
        if (field === "event") name = value;
        else if (field === "data") data.push(value);
      }
    };
    for (;;) {
      const { value, done } = await reader.read();
      buffer += decoder.decode(value || new Uint8Array(), { stream: !done });
      // A trailing "\r" may be the first half of a "\r\n" split between chunks: hold it.
      const held = !done && buffer.endsWith("\r") ? "\r" : "";
      const lines = (held ? buffer.slice(0, -1) : buffer).split(/\r\n|\r|\n/);
      buffer = done ? "" : lines.pop() + held;
      for (const l of lines) line(l);
      if (done) {
        line("");
        return;
      }
    }
  }

  function sendSse(p) {
    state.sseChain = state.sseChain.then(async () => {
      const s = state.session;
      if (!s || !state.pending.includes(p)) return;
      p.sent = true;
      let r;
      try {
        r = await fetch(API + "/" + s.id + "/messages", {
          method: "POST",
          headers: authHeaders({ "content-type": "application/json", accept: "text/event-stream" }),
          body: JSON.stringify({ content: p.content, client_id: p.client_id }),
          cache: "no-store",
          credentials: "omit",
        });
      } catch (_) {
        p.sent = false;
        scheduleSseRetry();
        return;
      }
      if (!r.ok) {
        const err = await httpError(r);
        if (r.status === 401 || r.status === 404) {
          renewSession("Your previous conversation is no longer available; a new one has started.");
        } else if (r.status === 409) {
          setEnded(true);
        } else {
          onErrorFrame({ type: "error", code: err.code, message: err.message, retry_after: err.retryAfter });
        }
        return;
      }
      try {
        await readEvents(r.body, (event, data) => {
          let v;
          try {
            v = JSON.parse(data);
          } catch (_) {
            return;
          }
          // The data is the frame itself, or (as first specified) only its payload.
          if (v && v.type === event) onFrame(v);
          else if (event === "message" || event === "done") onFrame({ type: event, message: v });
          else if (event === "typing") onFrame({ type: "typing" });
          else if (event === "delta" || event === "tool" || event === "error") onFrame(Object.assign({}, v, { type: event }));
        });
      } catch (_) {
        // The stream broke: what was stored is in the history.
        scheduleSseRetry();
      }
      showTyping(false);
    });
  }

  function scheduleSseRetry() {
    for (const p of state.pending) p.sent = false;
    scheduleReconnect();
  }

  // ---- sending ----
  function clientId() {
    if (crypto.randomUUID) return crypto.randomUUID();
    const b = crypto.getRandomValues(new Uint8Array(16));
    return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
  }

  function flushPending() {
    for (const p of state.pending) {
      if (p.sent) continue;
      if (state.transport === "sse") {
        sendSse(p);
      } else if (state.ws && state.ws.readyState === WebSocket.OPEN) {
        state.ws.send(JSON.stringify({ type: "message", content: p.content, client_id: p.client_id }));
        p.sent = true;
      }
    }
  }

  function submit() {
    const content = ui.input.value;
    if (!content.trim() || state.ended) return;
    if (Date.now() < state.cooldownUntil) {
      showNotice(MESSAGES.rate_limited(Math.ceil((state.cooldownUntil - Date.now()) / 1000)));
      return;
    }
    showNotice("");
    const li = bubble("user");
    li.classList.add("pending");
    textOf(li).data = content;
    metaOf(li).textContent = "Sending…";
    ui.list.appendChild(li);
    ui.list.scrollTop = ui.list.scrollHeight;
    state.pending.push({ client_id: clientId(), content, li, sent: false });
    ui.input.value = "";
    grow();
    ui.input.focus();
    if (state.session) flushPending();
  }

  function grow() {
    ui.input.style.height = "auto";
    ui.input.style.height = Math.min(ui.input.scrollHeight + 2, 160) + "px";
  }

  // ---- sessions ----
  async function connect() {
    try {
      if (!state.session) state.session = storedSession() || (await createSession());
    } catch (err) {
      const wait = err instanceof ChatError && err.retryAfter ? err.retryAfter : 0;
      showNotice(err instanceof ChatError && err.status === 429 ? "Too many conversations from this network right now." : "The chat is unreachable.");
      if (wait) state.attempt = Math.max(state.attempt, Math.ceil(Math.log2((wait * 1000) / BACKOFF_BASE_MS)));
      scheduleReconnect();
      return;
    }
    if (state.transport === "sse") syncHistory();
    else openSocket();
  }

  /**
   * Ends the current session on the server (DELETE) when the user starts over, so it
   * stops counting against this network's live conversations. Best effort: a failure
   * only means the slot frees itself when the session goes idle.
   */
  function endCurrentSession() {
    const s = state.session;
    if (!s || state.ended) return;
    fetch(API + "/" + s.id, {
      method: "DELETE",
      headers: { authorization: "Bearer " + s.token },
      cache: "no-store",
      credentials: "omit",
      keepalive: true,
    }).catch(() => {});
  }

  /** The session is refused or over: start a new one (at most twice without success). */
  function renewSession(message) {
    store.removeItem(STORE_KEY);
    state.session = null;
    const keep = state.pending.map((p) => p.content);
    clearConversation();
    setEnded(false);
    state.renewals += 1;
    if (message) showNotice(message);
    for (const content of keep) {
      ui.input.value = ui.input.value || content;
    }
    if (state.ws) {
      const ws = state.ws;
      state.ws = null;
      ws.close(1000);
    }
    if (state.renewals > 2) {
      scheduleReconnect();
      return;
    }
    connect();
  }

  // ---- wiring ----
  ui.form.addEventListener("submit", (e) => {
    e.preventDefault();
    submit();
  });
  ui.input.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey && !e.altKey && !e.ctrlKey && !e.metaKey && !e.isComposing) {
      e.preventDefault();
      submit();
    }
  });
  ui.input.addEventListener("input", grow);
  ui.renew.addEventListener("click", () => {
    endCurrentSession();
    state.renewals = 0;
    showNotice("");
    renewSession("");
    ui.input.focus();
  });
  window.addEventListener("online", reconnectNow);
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible") reconnectNow();
  });

  // ---- what voice.js (the mic) uses: the session, the frames, notices ----
  window.edgeChat = Object.freeze({
    /** The open session ({id, token}), or null (none yet, or ended). */
    session: () => (state.ended ? null : state.session),
    /** Whether frames arrive over an open WebSocket (then an SSE answer repeats them). */
    socketOpen: () => state.transport === "ws" && !!state.ws && state.ws.readyState === WebSocket.OPEN,
    readEvents,
    onFrame,
    httpError,
    notice: showNotice,
    clientId,
  });

  setState("connecting", "Connecting…");
  if (window.top === window) ui.input.focus();
  connect();
})();
