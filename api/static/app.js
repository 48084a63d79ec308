// deepwell chat page: sign in with an API key, ask questions, read cited passages, give feedback.
//
// Plain ES module, no build step, no third-party code. Model output and document text are
// only ever inserted with textContent / text nodes, never as HTML.
//
// Nothing about conversations is kept on the device: the list and each conversation's turns
// come from the server (GET v1/conversations, v1/conversations/{id}). The API key lives in
// memory, with sessionStorage as its only persistence (a reload keeps the tab signed in).
// Signing out (or a refused key) removes every entry this page, or an earlier version of it,
// stored under its prefix, and empties the page of conversations and answers.

const STORAGE_PREFIX = "deepwell.";
const KEY_STORAGE = `${STORAGE_PREFIX}apiKey`;
const LIST_LIMIT = 50;
// The same markers the server counts as citations: [1], [1, 2], [1; 3].
const CITATION = /\[\s*(\d{1,3}(?:\s*[,;]\s*\d{1,3})*)\s*\]/g;

// An error event inside a 200 stream carries only a code; treat it like the HTTP status.
const STREAM_ERROR_STATUS = { unauthenticated: 401, rate_limited: 429, unavailable: 503, timeout: 504 };

const $ = (id) => document.getElementById(id);

const ui = {
  skipLink: $("skip-link"),
  whoami: $("whoami"),
  whoUser: $("who-user"),
  whoTenant: $("who-tenant"),
  whoRole: $("who-role"),
  signOut: $("sign-out"),
  signinView: $("signin-view"),
  signinForm: $("signin-form"),
  signinButton: $("signin-button"),
  signinError: $("signin-error"),
  apiKey: $("api-key"),
  chatView: $("chat-view"),
  newConversation: $("new-conversation"),
  conversationList: $("conversation-list"),
  messages: $("messages"),
  emptyState: $("empty-state"),
  askForm: $("ask-form"),
  askButton: $("ask-button"),
  question: $("question"),
  dialog: $("citation-dialog"),
  dialogTitle: $("citation-title"),
  dialogClose: $("citation-close"),
  dialogDocument: $("citation-document"),
  dialogPage: $("citation-page"),
  dialogSection: $("citation-section"),
  dialogStatus: $("citation-status"),
  dialogText: $("citation-text"),
  answerTemplate: $("answer-template"),
};

const state = {
  key: null,
  me: null,
  session: 0, // bumped at every sign-in and sign-out: late replies of an older one are dropped
  conversations: [], // {id, title, turns}: the server's list, newest first
  currentId: null,
  chosen: false, // the user opened, started or asked something since signing in
  opening: null, // AbortController of the conversation being loaded
  streaming: null, // AbortController of the answer being streamed
  dialogOpener: null,
  seq: 0,
};

// ---------------------------------------------------------------------------- API

/** An API failure: HTTP status plus the server's `{"error": {"code", "message"}}`. */
class ApiError extends Error {
  constructor(status, code, message, retryAfter = null) {
    super(message);
    this.status = status;
    this.code = code;
    this.retryAfter = retryAfter;
  }
}

function apiUrl(path) {
  // Relative to the page, so the UI also works behind a path prefix.
  return new URL(path, document.baseURI).toString();
}

async function errorFrom(response) {
  let code = "http_error";
  let message = response.statusText || `HTTP ${response.status}`;
  try {
    const body = await response.json();
    if (body && body.error) {
      code = body.error.code || code;
      message = body.error.message || message;
    } else if (body && typeof body.detail === "string") {
      message = body.detail;
    }
  } catch {
    // Not JSON (a proxy's error page): keep the status text.
  }
  return new ApiError(response.status, code, message, response.headers.get("Retry-After"));
}

async function api(path, { method = "GET", body, key = state.key, signal } = {}) {
  const headers = { Accept: "application/json" };
  if (key) headers.Authorization = `Bearer ${key}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(apiUrl(path), {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal,
      credentials: "omit",
      cache: "no-store", // answers and passages never go to the browser's disk cache
    });
  } catch (err) {
    if (err.name === "AbortError") throw err;
    throw new ApiError(0, "network_error", "The server could not be reached.");
  }
  if (!response.ok) throw await errorFrom(response);
  return response.status === 204 ? null : response.json();
}

/**
 * Read server-sent events from a fetch response body.
 * Yields {event, data} with data parsed as JSON (the server only sends JSON).
 */
async function* readEvents(response) {
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += value.replace(/\r\n?/g, "\n");
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const parsed = parseEvent(block);
      if (parsed) yield parsed;
    }
  }
  const last = parseEvent(buffer);
  if (last) yield last;
}

function parseEvent(block) {
  let event = "message";
  const data = [];
  for (const line of block.split("\n")) {
    if (!line || line.startsWith(":")) continue; // comments keep the connection alive
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "event") event = value;
    else if (field === "data") data.push(value);
  }
  if (!data.length) return null;
  const text = data.join("\n");
  try {
    return { event, data: JSON.parse(text) };
  } catch {
    return { event, data: { text } };
  }
}

/**
 * Ask a question; calls onSources(event) once retrieval is done (before the model writes a
 * word), onToken(text) per streamed piece, and resolves with the answer object.
 */
async function streamAnswer(question, conversationId, { onSources, onToken }, signal) {
  let response;
  try {
    response = await fetch(apiUrl("v1/answer"), {
      method: "POST",
      headers: {
        Accept: "text/event-stream",
        "Content-Type": "application/json",
        ...(state.key ? { Authorization: `Bearer ${state.key}` } : {}),
      },
      body: JSON.stringify({ question, conversation_id: conversationId, stream: true }),
      signal,
      credentials: "omit",
      cache: "no-store",
    });
  } catch (err) {
    if (err.name === "AbortError") throw err;
    throw new ApiError(0, "network_error", "The server could not be reached.");
  }
  if (!response.ok) throw await errorFrom(response);
  if (!(response.headers.get("Content-Type") || "").includes("text/event-stream")) {
    const answer = await response.json(); // a server that answered in one piece
    onToken(answer.answer || "");
    return answer;
  }
  for await (const { event, data } of readEvents(response)) {
    if (event === "sources") onSources(data);
    else if (event === "token") onToken(data.text || "");
    else if (event === "done") return data;
    else if (event === "error") {
      const error = data.error || {};
      const status = STREAM_ERROR_STATUS[error.code] || 500;
      throw new ApiError(status, error.code || "error", error.message || "The answer failed.");
    }
  }
  throw new ApiError(0, "incomplete", "The answer stopped before it was complete. Try again.");
}

// ---------------------------------------------------------------------------- helpers

function uuid4() {
  if (window.crypto.randomUUID) return window.crypto.randomUUID();
  // randomUUID needs a secure context; getRandomValues does not.
  const b = window.crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === "class") node.className = v;
    else if (k === "text") node.textContent = v;
    else if (k.startsWith("data-") || k.startsWith("aria-")) node.setAttribute(k, v);
    else node[k] = v;
  }
  node.append(...children);
  return node;
}

function pages(c) {
  if (c.page_start == null) return "";
  if (c.page_end == null || c.page_end === c.page_start) return `p. ${c.page_start}`;
  return `pp. ${c.page_start}–${c.page_end}`;
}

function docName(c) {
  if (c.title) return c.title;
  const uri = c.source_uri || "";
  return uri.split(/[\\/]/).filter(Boolean).pop() || c.doc_id || "Document";
}

function sectionText(section) {
  return Array.isArray(section) ? section.filter(Boolean).join(" › ") : section || "";
}

/** Words people read, for an ApiError (never shows the key). */
function describeError(err) {
  if (err.status === 429) {
    const wait = Number(err.retryAfter);
    const when = Number.isFinite(wait) && wait > 0 ? `in ${Math.ceil(wait)} s` : "in a moment";
    return `Too many requests. Please try again ${when}.`;
  }
  if (err.status === 504) return `The answer took too long (${err.message}). Please try again.`;
  if (err.status === 503) return `The service is busy or unavailable: ${err.message} Try again shortly.`;
  if (err.status >= 500) return `The server failed to answer (${err.code}): ${err.message}`;
  if (err.status === 0) return err.message;
  return `${err.message} (${err.code})`;
}

// ---------------------------------------------------------------------------- storage

/** Remove every entry stored under this page's prefix (the key; old conversation caches). */
function forgetStored() {
  for (const storage of [window.sessionStorage, window.localStorage]) {
    try {
      const ours = [];
      for (let i = 0; i < storage.length; i += 1) {
        const name = storage.key(i);
        if (name && name.startsWith(STORAGE_PREFIX)) ours.push(name);
      }
      for (const name of ours) storage.removeItem(name);
    } catch {
      // Storage disabled: there is nothing to remove.
    }
  }
}

function currentConversation() {
  return state.conversations.find((c) => c.id === state.currentId) || null;
}

/** Empty the page of everything the signed-in user saw: conversations, answers, passages. */
function clearPage() {
  state.conversations = [];
  state.currentId = null;
  state.opening = null;
  ui.conversationList.replaceChildren();
  ui.messages.replaceChildren();
  ui.emptyState.hidden = false;
  ui.question.value = "";
  ui.dialogTitle.textContent = "Source";
  for (const node of [ui.dialogDocument, ui.dialogPage, ui.dialogSection, ui.dialogStatus, ui.dialogText]) {
    node.textContent = "";
  }
}

// ---------------------------------------------------------------------------- sign-in

function showSignIn(message = "") {
  abortStreaming();
  if (state.opening) state.opening.abort();
  state.session += 1;
  state.key = null;
  state.me = null;
  forgetStored();
  if (ui.dialog.open) ui.dialog.close();
  clearPage();
  for (const node of [ui.whoUser, ui.whoTenant, ui.whoRole]) node.textContent = "";
  ui.chatView.setAttribute("aria-busy", "false");
  ui.chatView.hidden = true;
  ui.skipLink.hidden = true;
  ui.whoami.hidden = true;
  ui.signinView.hidden = false;
  ui.signinError.textContent = message;
  ui.apiKey.setAttribute("aria-invalid", message ? "true" : "false");
  ui.apiKey.value = "";
  ui.apiKey.focus();
}

async function signIn(key) {
  const me = await api("v1/me", { key });
  const user = me.user ?? me.user_id ?? me.principal?.user;
  if (!user) throw new ApiError(500, "bad_response", "The server did not say who you are.");
  forgetStored(); // whatever an earlier version of the page, or an earlier session, left
  state.session += 1;
  const session = state.session;
  state.key = key; // null: a development-mode server that needs no key
  state.me = {
    user: String(user),
    tenant: String(me.tenant ?? me.principal?.tenant ?? "default"),
    role: String(me.role ?? me.principal?.role ?? ""),
  };
  if (key) {
    try {
      sessionStorage.setItem(KEY_STORAGE, key);
    } catch {
      // Storage disabled: the key stays in memory only (a reload signs out).
    }
  }
  ui.whoUser.textContent = state.me.user;
  ui.whoTenant.textContent = state.me.tenant;
  ui.whoRole.textContent = state.me.role || "—";
  ui.signinView.hidden = true;
  ui.signinError.textContent = "";
  ui.whoami.hidden = false;
  ui.chatView.hidden = false;
  ui.skipLink.hidden = false;
  clearPage();
  state.chosen = false;
  openConversation(null);
  ui.question.focus();
  ui.chatView.setAttribute("aria-busy", "true");
  try {
    await loadConversationList(session);
  } finally {
    if (session === state.session) ui.chatView.setAttribute("aria-busy", "false");
  }
}

/** The signed-in user's conversations from the server; opens the most recent one. */
async function loadConversationList(session) {
  let page;
  try {
    page = await api(`v1/conversations?limit=${LIST_LIMIT}`);
  } catch (err) {
    if (session !== state.session) return;
    if (handleAuthFailure(err)) return;
    ui.conversationList.replaceChildren(
      el("li", { class: "form-error", text: `Conversations could not be loaded: ${describeError(err)}` }),
    );
    return;
  }
  if (session !== state.session) return; // signed out (or in again) meanwhile
  const asked = state.conversations.filter((c) => !page.conversations.some((s) => s.id === c.id));
  state.conversations = [...asked, ...page.conversations.map((c) => ({ id: c.id, title: c.title, turns: c.turns }))];
  if (!state.chosen && state.conversations.length) {
    await openConversation(state.conversations[0].id);
  } else {
    renderConversationList();
  }
}

ui.signinForm.addEventListener("submit", async (event) => {
  event.preventDefault();
  const key = ui.apiKey.value.trim();
  if (!key) {
    ui.signinError.textContent = "Enter your API key.";
    ui.apiKey.setAttribute("aria-invalid", "true");
    ui.apiKey.focus();
    return;
  }
  ui.signinButton.disabled = true;
  ui.signinError.textContent = "";
  try {
    await signIn(key);
    ui.apiKey.value = "";
  } catch (err) {
    const message =
      err.status === 401 || err.status === 403
        ? "That API key was not accepted. Check it and try again."
        : describeError(err);
    ui.signinError.textContent = message;
    ui.apiKey.setAttribute("aria-invalid", "true");
    ui.apiKey.focus();
  } finally {
    ui.signinButton.disabled = false;
  }
});

ui.signOut.addEventListener("click", () => showSignIn(""));

/** Any 401 after sign-in: the key was revoked or expired. */
function handleAuthFailure(err) {
  if (err instanceof ApiError && err.status === 401) {
    showSignIn("Your API key is no longer accepted. Please sign in again.");
    return true;
  }
  return false;
}

// ---------------------------------------------------------------------------- conversations

function renderConversationList() {
  ui.conversationList.replaceChildren(
    ...state.conversations.map((c) => {
      const button = el("button", { type: "button", class: "conversation-item", text: c.title || "New conversation" });
      if (c.id === state.currentId) button.setAttribute("aria-current", "true");
      button.addEventListener("click", () => {
        state.chosen = true;
        openConversation(c.id);
        ui.question.focus();
      });
      if (c.turns) button.title = `${c.turns / 2} question${c.turns === 2 ? "" : "s"}`;
      return el("li", {}, button);
    }),
  );
}

/** Show conversation ``id`` (null: a new one), its turns loaded from the server. */
async function openConversation(id) {
  abortStreaming();
  if (state.opening) state.opening.abort();
  state.opening = null;
  state.currentId = id;
  ui.messages.replaceChildren();
  ui.emptyState.hidden = false;
  renderConversationList();
  if (id === null) return;

  const controller = new AbortController();
  state.opening = controller;
  ui.messages.setAttribute("aria-busy", "true");
  let detail;
  try {
    detail = await api(`v1/conversations/${encodeURIComponent(id)}`, { signal: controller.signal });
  } catch (err) {
    if (err.name === "AbortError" || state.opening !== controller) return;
    state.opening = null;
    ui.messages.setAttribute("aria-busy", "false");
    if (handleAuthFailure(err)) return;
    const view = addTurn("");
    view.root.querySelector(".question-bubble").hidden = true;
    showTurnError(view, `This conversation could not be loaded: ${describeError(err)}`);
    return;
  }
  if (state.opening !== controller) return; // another conversation was opened meanwhile
  state.opening = null;
  ui.messages.setAttribute("aria-busy", "false");
  showTurns(detail.turns || []);
  ui.emptyState.hidden = ui.messages.childElementCount > 0;
  scrollToEnd();
}

/** Render stored turns: each question with the answer that follows it. */
function showTurns(turns) {
  let view = null;
  for (const turn of turns) {
    if (turn.role === "user") {
      view = addTurn(turn.content);
      continue;
    }
    if (!view) view = addTurn(""); // an answer whose question was trimmed away
    const answer = {
      answer_id: turn.answer_id,
      answer: turn.content,
      no_answer: Boolean(turn.no_answer),
      citations: turn.citations || [],
    };
    finishAnswer(view, answer, { feedback: turn.rating || null });
    view = null;
  }
  if (view) showTurnError(view, "No answer was recorded for this question.");
}

ui.newConversation.addEventListener("click", () => {
  state.chosen = true;
  openConversation(null); // created on its first question
  ui.question.focus();
});

// ---------------------------------------------------------------------------- asking

function addTurn(question) {
  const node = ui.answerTemplate.content.firstElementChild.cloneNode(true);
  const n = ++state.seq;
  node.querySelector(".question-text").textContent = question;
  const comment = node.querySelector(".feedback-comment");
  comment.id = `feedback-comment-${n}`;
  node.querySelector(".feedback-label").htmlFor = comment.id;
  ui.messages.append(node);
  ui.emptyState.hidden = true;
  return {
    root: node,
    text: node.querySelector(".answer-text"),
    status: node.querySelector(".answer-status"),
    statusText: node.querySelector(".status-text"),
    statusTime: node.querySelector(".status-time"),
    note: node.querySelector(".answer-note"),
    error: node.querySelector(".answer-error"),
    actions: node.querySelector(".answer-actions"),
    retry: node.querySelector(".retry"),
    sources: node.querySelector(".sources"),
    sourcesHeading: node.querySelector(".sources-heading"),
    sourceList: node.querySelector(".source-list"),
    feedback: node.querySelector(".feedback"),
    progress: null, // the timer of the "Reading n passages…" status
  };
}

function scrollToEnd() {
  ui.messages.lastElementChild?.scrollIntoView({ block: "end" });
}

function abortStreaming() {
  if (state.streaming) state.streaming.abort();
  state.streaming = null;
  setBusy(false);
}

function setBusy(busy) {
  ui.askButton.disabled = busy;
  ui.askButton.textContent = busy ? "Answering…" : "Send";
  for (const retry of ui.messages.querySelectorAll(".retry")) retry.disabled = busy;
}

async function ask(question) {
  state.chosen = true;
  if (state.opening) state.opening.abort(); // asking before the turns arrived: start afresh
  state.opening = null;
  let conversation = currentConversation();
  if (!conversation) {
    // A new conversation: the server records it under this id with the first answer.
    conversation = { id: uuid4(), title: question.replace(/\s+/g, " ").slice(0, 80), turns: 0 };
    state.conversations.unshift(conversation);
    state.currentId = conversation.id;
  } else {
    state.conversations = [conversation, ...state.conversations.filter((c) => c !== conversation)];
  }
  renderConversationList();
  const turn = {};

  const view = addTurn(question);
  scrollToEnd();
  const controller = new AbortController();
  state.streaming = controller;
  setBusy(true);
  const streamed = document.createTextNode("");
  view.text.append(streamed);
  try {
    const answer = await streamAnswer(
      question,
      conversation.id,
      {
        onSources: (sources) => showReading(view, sources),
        onToken: (piece) => {
          stopReading(view);
          streamed.appendData(piece);
        },
      },
      controller.signal,
    );
    if (controller.signal.aborted) return; // signed out or switched away meanwhile
    conversation.turns += 2;
    finishAnswer(view, answer, turn);
    if (answer.truncated) offerRetry(view, question);
  } catch (err) {
    if (err.name === "AbortError" || controller.signal.aborted) return;
    if (handleAuthFailure(err)) return;
    showTurnError(view, describeError(err));
    offerRetry(view, question);
  } finally {
    stopReading(view);
    if (state.streaming === controller) {
      state.streaming = null;
      setBusy(false);
    }
  }
  scrollToEnd();
}

/** The passages the model is about to read, listed at once, and a status while it reads them. */
function showReading(view, sources) {
  const passages = sources.context || [];
  renderSources(view, passages, null);
  if (!sources.generate || !passages.length) return; // the no-answer sentence follows at once
  const n = passages.length;
  view.statusText.textContent = `Reading ${n} passage${n === 1 ? "" : "s"}…`;
  view.statusTime.textContent = "";
  view.status.hidden = false;
  const started = Date.now();
  view.progress = setInterval(() => {
    view.statusTime.textContent = ` ${Math.round((Date.now() - started) / 1000)} s`;
  }, 1000);
  scrollToEnd();
}

function stopReading(view) {
  if (view.progress !== null) clearInterval(view.progress);
  view.progress = null;
  view.status.hidden = true;
}

/** A Retry button under a failed or cut-off answer: asks the same question again. */
function offerRetry(view, question) {
  view.actions.hidden = false;
  view.retry.disabled = false;
  view.retry.onclick = () => {
    if (state.streaming) return;
    view.actions.hidden = true;
    ask(question);
    ui.question.focus();
  };
}

function showTurnError(view, message) {
  view.text.setAttribute("aria-busy", "false");
  if (!view.text.textContent) view.text.hidden = true;
  view.error.textContent = message;
  view.error.hidden = false;
}

/** Replace the streamed text with the final answer: [n] markers become citation buttons. */
function finishAnswer(view, answer, turn) {
  const cited = new Map();
  for (const c of [...(answer.context || []), ...(answer.citations || [])]) cited.set(c.n, c);
  view.text.replaceChildren(...markFigures(answer.answer || "", answer.figures, cited));
  view.text.classList.toggle("no-answer", Boolean(answer.no_answer));
  view.text.setAttribute("aria-busy", "false");

  const citations = answer.citations || [];
  const passages = answer.context && answer.context.length ? answer.context : citations;
  renderSources(view, passages, new Set(citations.map((c) => c.n)));
  view.note.textContent = answer.note || "";
  view.note.hidden = !answer.note;
  if (answer.answer_id) setUpFeedback(view, answer.answer_id, turn);
}

/**
 * List the passages of an answer. `cited`: null while the model reads them; at the end,
 * the numbers the answer cites, which are marked (the others stay listed, dimmed).
 */
function renderSources(view, passages, cited) {
  view.sourceList.replaceChildren(
    ...passages.map((c) => {
      const where = [pages(c), sectionText(c.section)].filter(Boolean).join(" · ");
      const button = el(
        "button",
        { type: "button", class: "source-link" },
        el("span", { class: "source-n", text: `[${c.n}]` }),
        " ",
        el("span", { class: "source-title", text: docName(c) }),
      );
      button.addEventListener("click", () => openCitation(c, button));
      const item = el("li", { value: c.n }, button, where ? el("span", { class: "source-where", text: where }) : "");
      if (cited !== null) {
        item.classList.add(cited.has(c.n) ? "cited" : "not-cited");
        if (cited.has(c.n)) item.append(el("span", { class: "source-cited", text: "cited" }));
      }
      return item;
    }),
  );
  view.sourcesHeading.textContent =
    cited === null ? "Sources" : cited.size ? "Sources" : "Sources (none cited)";
  view.sources.hidden = passages.length === 0;
}

/** The answer with [n] linked and each figure the sources do not bear out marked (a title says why). */
function markFigures(text, figures, cited) {
  const doubts = {
    wrong_period: "in the sources, but for another period",
    wrong_label: "in the sources, but for something else",
    unit_mismatch: "the sources give these digits in other units",
    not_found: "not found in the sources",
    unsupported_operand: "computed from a number the sources do not give for this",
    uncomputable: "could not be computed",
  };
  const parts = [];
  let last = 0;
  for (const f of figures || []) {
    const at = doubts[f.status] ? text.indexOf(f.text, last) : -1;
    if (at < 0) continue;
    const where = f.source ? ` [${f.source}]${f.row ? ` ${f.row}` : ""}${f.column ? `, ${f.column}` : ""}` : "";
    parts.push(...linkCitations(text.slice(last, at), cited));
    parts.push(el("mark", { class: "figure-unverified", title: `Unverified: ${doubts[f.status]}${where}`, text: f.text }));
    last = at + f.text.length;
  }
  parts.push(...linkCitations(text.slice(last), cited));
  return parts;
}

function linkCitations(text, cited) {
  const parts = [];
  let last = 0;
  for (const match of text.matchAll(CITATION)) {
    const numbers = match[1].split(/[,;]/).map((s) => Number(s.trim()));
    if (!numbers.some((n) => cited.has(n))) continue; // an invented [9]: leave it as text
    parts.push(document.createTextNode(text.slice(last, match.index)));
    numbers.forEach((n, i) => {
      const c = cited.get(n);
      if (!c) {
        parts.push(document.createTextNode(`[${n}]`));
        return;
      }
      const button = el("button", {
        type: "button",
        class: "cite",
        text: `[${n}]`,
        "aria-label": `Source ${n}: ${docName(c)}${pages(c) ? `, ${pages(c)}` : ""}`,
      });
      button.addEventListener("click", () => openCitation(c, button));
      parts.push(button);
      if (i < numbers.length - 1) parts.push(document.createTextNode(" "));
    });
    last = match.index + match[0].length;
  }
  parts.push(document.createTextNode(text.slice(last)));
  return parts;
}

ui.askForm.addEventListener("submit", (event) => {
  event.preventDefault();
  const question = ui.question.value.trim();
  if (!question || state.streaming) return;
  ui.question.value = "";
  ask(question);
});

ui.question.addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    ui.askForm.requestSubmit();
  }
});

// ---------------------------------------------------------------------------- citations

async function openCitation(c, opener) {
  state.dialogOpener = opener;
  ui.dialogTitle.textContent = `[${c.n}] ${docName(c)}`;
  ui.dialogDocument.textContent = c.source_uri || docName(c);
  ui.dialogPage.textContent = pages(c) || "—";
  ui.dialogSection.textContent = sectionText(c.section) || "—";
  ui.dialogStatus.textContent = "Loading the passage…";
  ui.dialogText.textContent = c.snippet || "";
  if (!ui.dialog.open) ui.dialog.showModal();
  ui.dialogClose.focus();

  const path = `v1/documents/${encodeURIComponent(c.doc_id)}/chunks/${encodeURIComponent(c.chunk_id)}`;
  try {
    const chunk = await api(path);
    if (state.dialogOpener !== opener) return; // another citation was opened meanwhile
    ui.dialogTitle.textContent = `[${c.n}] ${docName(chunk.title ? chunk : c)}`;
    ui.dialogDocument.textContent = chunk.source_uri || c.source_uri || docName(c);
    ui.dialogPage.textContent = pages(chunk) || pages(c) || "—";
    ui.dialogSection.textContent = sectionText(chunk.section) || sectionText(c.section) || "—";
    ui.dialogText.textContent = chunk.text;
    ui.dialogStatus.textContent = "";
  } catch (err) {
    if (state.dialogOpener !== opener) return;
    if (handleAuthFailure(err)) return;
    ui.dialogStatus.textContent = `Showing the excerpt saved with the answer; the full passage could not be loaded (${describeError(err)}).`;
  }
}

ui.dialogClose.addEventListener("click", () => ui.dialog.close());
ui.dialog.addEventListener("click", (event) => {
  if (event.target === ui.dialog) ui.dialog.close(); // a click on the backdrop
});
ui.dialog.addEventListener("close", () => {
  const opener = state.dialogOpener;
  state.dialogOpener = null;
  if (opener && opener.isConnected) opener.focus();
});

// ---------------------------------------------------------------------------- feedback

function setUpFeedback(view, answerId, turn) {
  const form = view.feedback;
  const thumbs = [...form.querySelectorAll(".thumb")];
  const more = form.querySelector(".feedback-more");
  const comment = form.querySelector(".feedback-comment");
  const send = form.querySelector(".feedback-send");
  const status = form.querySelector(".feedback-status");
  let rating = null;
  form.hidden = false;

  const done = (given) => {
    for (const t of thumbs) {
      t.setAttribute("aria-pressed", String(t.dataset.rating === given));
      t.disabled = true;
    }
    more.hidden = true;
    status.textContent = "Thanks, your feedback was recorded.";
  };
  if (turn?.feedback) {
    done(turn.feedback);
    return;
  }

  for (const thumb of thumbs) {
    thumb.addEventListener("click", () => {
      rating = thumb.dataset.rating;
      for (const t of thumbs) t.setAttribute("aria-pressed", String(t === thumb));
      more.hidden = false;
      status.textContent = "";
      comment.focus();
    });
  }
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!rating) return;
    send.disabled = true;
    status.textContent = "Sending…";
    const body = { answer_id: answerId, rating };
    const text = comment.value.trim();
    if (text) body.comment = text;
    try {
      await api("v1/feedback", { method: "POST", body });
      done(rating);
      if (turn) turn.feedback = rating;
    } catch (err) {
      if (handleAuthFailure(err)) return;
      status.textContent = `Feedback not sent: ${describeError(err)}`;
    } finally {
      send.disabled = false;
    }
  });
}

// ---------------------------------------------------------------------------- start

async function start() {
  let saved = null;
  try {
    saved = sessionStorage.getItem(KEY_STORAGE);
  } catch {
    // Storage disabled: sign in again after a reload.
  }
  try {
    // Without a saved key, a server in development mode (api.dev_mode) accepts no key at all.
    await signIn(saved);
  } catch (err) {
    if (!saved) showSignIn("");
    else showSignIn(err.status === 401 ? "Your session has ended. Please sign in again." : describeError(err));
  }
}

start();
