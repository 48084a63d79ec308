// The chat view: conversations from the server, questions answered as a stream with their
// sources, [n] markers that open the cited passage (viewer.js), feedback on each answer.

import {
  ApiError,
  api,
  apiUrl,
  describeError,
  errorFrom,
  handleAuthFailure,
  readEvents,
  session,
} from "./api.js";
import { $, docName, el, fileName, pages, sectionText, uuid4 } from "./dom.js";
import { openCitation } from "./viewer.js";

const LIST_LIMIT = 50;
/** The longest question the API accepts (retrieval.search.MAX_QUERY_CHARS). */
export const MAX_QUESTION_CHARS = 2000;
// The same markers the server counts as citations: [1], [1, 2], [1; 3].
const CITATION = /\[\s*(\d{1,3}(?:\s*[,;]\s*\d{1,3})*)\s*\]/g;

// An error event inside a 200 stream carries only a code; treat it like the HTTP status.
const STREAM_ERROR_STATUS = { unauthenticated: 401, rate_limited: 429, unavailable: 503, timeout: 504 };

const ui = {
  view: $("chat-view"),
  newConversation: $("new-conversation"),
  conversationList: $("conversation-list"),
  messages: $("messages"),
  emptyState: $("empty-state"),
  askForm: $("ask-form"),
  askButton: $("ask-button"),
  askError: $("ask-error"),
  askCount: $("ask-count"),
  question: $("question"),
  answerTemplate: $("answer-template"),
};

const state = {
  conversations: [], // {id, title, turns}: the server's list, newest first
  currentId: null,
  chosen: false, // the user opened, started or asked something since signing in
  opening: null, // AbortController of the conversation being loaded
  streaming: null, // AbortController of the answer being streamed
  seq: 0,
};

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
        ...(session.key ? { Authorization: `Bearer ${session.key}` } : {}),
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

function currentConversation() {
  return state.conversations.find((c) => c.id === state.currentId) || null;
}

/** Empty the view of everything the signed-in user saw: conversations, answers. */
export function resetChat() {
  abortStreaming();
  if (state.opening) state.opening.abort();
  state.conversations = [];
  state.currentId = null;
  state.opening = null;
  state.chosen = false;
  ui.conversationList.replaceChildren();
  ui.messages.replaceChildren();
  ui.emptyState.hidden = false;
  ui.question.value = "";
  showAskError("");
}

/** After sign-in: a new conversation at once, then the list (and the latest one) from the server. */
export async function startChat(sessionId) {
  resetChat();
  openConversation(null);
  ui.view.setAttribute("aria-busy", "true");
  try {
    await loadConversationList(sessionId);
  } finally {
    if (sessionId === session.id) ui.view.setAttribute("aria-busy", "false");
  }
}

export function focusQuestion() {
  ui.question.focus();
}

/** The signed-in user's conversations from the server; opens the most recent one. */
async function loadConversationList(sessionId) {
  let page;
  try {
    page = await api(`v1/conversations?limit=${LIST_LIMIT}`);
  } catch (err) {
    if (sessionId !== session.id) return;
    if (handleAuthFailure(err)) return;
    ui.conversationList.replaceChildren(
      el("li", { class: "form-error", text: `Conversations could not be loaded: ${describeError(err)}` }),
    );
    return;
  }
  if (sessionId !== session.id) return; // signed out (or in again) meanwhile
  const asked = state.conversations.filter((c) => !page.conversations.some((s) => s.id === c.id));
  state.conversations = [...asked, ...page.conversations.map((c) => ({ id: c.id, title: c.title, turns: c.turns }))];
  if (!state.chosen && state.conversations.length) {
    await openConversation(state.conversations[0].id);
  } else {
    renderConversationList();
  }
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

export function abortStreaming() {
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
      const section = sectionText(c.section);
      // A section named like the document (its first heading) says nothing more.
      const where = [pages(c), section !== docName(c) ? section : ""].filter(Boolean).join(" · ");
      const button = el(
        "button",
        { type: "button", class: "source-link" },
        el("span", { class: "source-n", text: `[${c.n}]` }),
        " ",
        el("span", { class: "source-title", text: docName(c) }),
      );
      button.addEventListener("click", () => openCitation(c, button));
      const file = fileName(c);
      const item = el(
        "li",
        { value: c.n },
        button,
        file && file !== docName(c) ? el("span", { class: "source-file", text: file }) : "",
        where ? el("span", { class: "source-where", text: where }) : "",
      );
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

/** A message under the question box (empty: none); marks the box invalid while shown. */
function showAskError(message) {
  ui.askError.textContent = message;
  ui.question.setAttribute("aria-invalid", message ? "true" : "false");
}

function updateCount() {
  const n = ui.question.value.trim().length;
  const over = n > MAX_QUESTION_CHARS;
  ui.askCount.hidden = n < MAX_QUESTION_CHARS * 0.8;
  ui.askCount.textContent = `${n} / ${MAX_QUESTION_CHARS} characters`;
  ui.askCount.classList.toggle("form-error", over);
  if (!over && ui.askError.textContent.startsWith("The question is too long")) showAskError("");
}

ui.askForm.addEventListener("submit", (event) => {
  event.preventDefault();
  const question = ui.question.value.trim();
  if (state.streaming) {
    showAskError("Wait for the answer being written, then ask again.");
    return;
  }
  if (!question) {
    showAskError("Type a question first.");
    ui.question.focus();
    return;
  }
  if (question.length > MAX_QUESTION_CHARS) {
    showAskError(
      `The question is too long: ${question.length} characters, at most ${MAX_QUESTION_CHARS}. Shorten it and send again.`,
    );
    ui.question.focus();
    return;
  }
  showAskError("");
  ui.question.value = "";
  updateCount();
  ask(question);
});

ui.question.addEventListener("input", () => {
  if (ui.askError.textContent === "Type a question first." && ui.question.value.trim()) showAskError("");
  updateCount();
});

ui.question.addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    ui.askForm.requestSubmit();
  }
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

