// The library view: the documents the signed-in person may read (the server decides which),
// search and filters, uploads of several files with their readers and metadata, progress
// while uploading (XHR) and while ingesting (the job, by page), failure reasons, delete,
// and folder sync jobs for admins.

import { api, describeError, handleAuthFailure, hasRole, session, uploadForm } from "./api.js";
import { $, count, docName, el, fileName, say, when } from "./dom.js";
import { openDocument } from "./viewer.js";

const PAGE = 500;
const POLL_MS = 700;
const REFRESH_MS = 3000;

const ui = {
  view: $("library-view"),
  uploadSection: $("upload-section"),
  uploadForm: $("upload-form"),
  drop: $("drop-zone"),
  files: $("upload-files"),
  chosen: $("upload-chosen"),
  aclGroups: $("acl-groups"),
  metadata: $("upload-metadata"),
  uploadButton: $("upload-button"),
  uploadError: $("upload-error"),
  uploads: $("upload-list"),
  uploadStatus: $("upload-status"),
  syncSection: $("sync-section"),
  syncForm: $("sync-form"),
  syncPath: $("sync-path"),
  syncAcl: $("sync-acl"),
  syncPrune: $("sync-prune"),
  syncStatus: $("sync-status"),
  search: $("library-search"),
  typeFilter: $("library-type"),
  stateFilter: $("library-state"),
  status: $("library-status"),
  table: $("library-table"),
  rows: $("library-rows"),
};

const state = {
  documents: [],
  types: new Set(),
  pending: [], // File objects chosen, not yet sent
  polls: new Set(), // AbortControllers of job polls, stopped at sign-out
  refresh: null,
  loading: null,
  notice: "", // the outcome of the last action (a deletion), kept above the count
};

/** The state in the user's words (today's registry names and the /v1 contract's). */
export function stateLabel(value) {
  return (
    {
      discovered: "Queued",
      queued: "Queued",
      parsed: "Ingesting",
      ingesting: "Ingesting",
      running: "Ingesting",
      indexed: "Ready",
      ready: "Ready",
      failed: "Failed",
      done: "Done",
      cancelled: "Cancelled",
    }[value] || value || "—"
  );
}

function typeOf(d) {
  const t = d.type || d.file_type || "";
  if (t) return String(t).toLowerCase();
  const m = /\.([a-z0-9]+)$/i.exec(fileName(d));
  return m ? m[1].toLowerCase() : "";
}

function failure(d) {
  return d.failure_reason || d.error || "";
}

function canDelete(d) {
  if (typeof d.can_delete === "boolean") return d.can_delete;
  // An older server without can_delete: what the server checks (it still decides).
  if (hasRole("admin")) return true;
  return hasRole("writer") && (d.acl || []).includes(`user:${session.me?.user}`) && !/^file:/.test(d.source_uri || "");
}

/** Forget the documents and stop every poll (at sign-out). */
export function resetLibrary() {
  for (const poll of state.polls) poll.abort();
  state.polls.clear();
  clearTimeout(state.refresh);
  state.refresh = null;
  state.documents = [];
  state.types = new Set();
  state.pending = [];
  state.notice = "";
  ui.rows.replaceChildren();
  ui.uploads.replaceChildren();
  ui.chosen.replaceChildren();
  ui.search.value = "";
  ui.typeFilter.replaceChildren(el("option", { value: "", text: "All types" }));
  ui.stateFilter.value = "";
  ui.metadata.value = "";
  ui.syncPath.value = "";
  ui.syncAcl.value = "";
  for (const node of [ui.status, ui.uploadError, ui.syncStatus, ui.uploadStatus]) say(node, "");
  ui.files.value = "";
  ui.uploadButton.disabled = true;
}

/** Shown: what the signed-in principal may do, then the list. */
export function showLibrary() {
  ui.uploadSection.hidden = !hasRole("writer");
  ui.syncSection.hidden = !hasRole("admin");
  return loadDocuments();
}

export async function loadDocuments() {
  const sid = session.id;
  const params = new URLSearchParams({ limit: String(PAGE) });
  const q = ui.search.value.trim();
  if (q) params.set("q", q);
  if (ui.typeFilter.value) params.set("type", ui.typeFilter.value);
  ui.table.setAttribute("aria-busy", "true");
  let reply;
  try {
    reply = await api(`v1/documents?${params}`);
  } catch (err) {
    if (sid !== session.id) return;
    ui.table.setAttribute("aria-busy", "false");
    if (handleAuthFailure(err)) return;
    say(ui.status, `The documents could not be loaded: ${describeError(err)}`, "error");
    return;
  }
  if (sid !== session.id) return;
  ui.table.setAttribute("aria-busy", "false");
  state.documents = reply.documents || [];
  for (const d of state.documents) if (typeOf(d)) state.types.add(typeOf(d));
  renderTypes();
  render();
  scheduleRefresh();
}

function renderTypes() {
  const chosen = ui.typeFilter.value;
  ui.typeFilter.replaceChildren(
    el("option", { value: "", text: "All types" }),
    ...[...state.types].sort().map((t) => el("option", { value: t, text: t.toUpperCase() })),
  );
  ui.typeFilter.value = chosen;
}

/** Filters applied here too: an older server ignores `q` and `type`, and `state` names differ. */
function visibleDocuments() {
  const q = ui.search.value.trim().toLowerCase();
  const type = ui.typeFilter.value;
  const wanted = ui.stateFilter.value;
  return state.documents.filter(
    (d) =>
      (!q || `${docName(d)} ${fileName(d)}`.toLowerCase().includes(q)) &&
      (!type || typeOf(d) === type) &&
      (!wanted || stateLabel(d.state) === wanted),
  );
}

function render() {
  const shown = visibleDocuments();
  const total = state.documents.length;
  const counted =
    total === 0
      ? "No documents yet. Upload some above; they are listed here as they are read."
      : shown.length === total
        ? `${count(total, "document")}.`
        : `${shown.length} of ${count(total, "document")} match.`;
  say(ui.status, [state.notice, counted].filter(Boolean).join(" "));
  ui.rows.replaceChildren(...shown.map(row));
}

function row(d) {
  const open = el("button", { type: "button", class: "link-button doc-open", text: docName(d) });
  open.addEventListener("click", () => openDocument(d, open));
  const file = fileName(d);
  const reason = failure(d);
  const label = stateLabel(d.state);
  const stateCell = el(
    "td",
    { "data-label": "State" },
    el("span", { class: `state state-${label.toLowerCase()}`, text: label }),
    reason ? el("p", { class: "failure", text: reason }) : "",
  );
  const actions = el("td", { "data-label": "Actions" });
  if (canDelete(d)) {
    const del = el("button", {
      type: "button",
      class: "button-secondary button-danger",
      text: "Delete",
      "aria-label": `Delete ${docName(d)}`,
    });
    del.addEventListener("click", () => removeDocument(d, del));
    actions.append(del);
  }
  return el(
    "tr",
    { "data-doc-id": d.doc_id },
    el("th", { scope: "row", "data-label": "Title" }, open, file && file !== docName(d) ? el("span", { class: "doc-file", text: file }) : ""),
    el("td", { "data-label": "Type", text: typeOf(d).toUpperCase() || "—" }),
    el("td", { "data-label": "Pages", class: "num", text: d.pages ? String(d.pages) : "—" }),
    el("td", { "data-label": "Passages", class: "num", text: String(d.chunks ?? 0) }),
    el("td", { "data-label": "Readers", text: Array.isArray(d.acl) ? readers(d.acl) : "—" }),
    stateCell,
    el("td", { "data-label": "Updated", text: when(d.updated_at) || "—" }),
    actions,
  );
}

/** An ACL in words: "only alice", "group finance", "everyone". */
function readers(acl) {
  if (acl.includes("*")) return "everyone";
  return (
    acl
      .map((e) => (e === "*" ? "everyone" : e.startsWith("user:") ? e.slice(5) : e.replace(":", " ")))
      .join(", ") || "—"
  );
}

async function removeDocument(d, button) {
  if (!window.confirm(`Delete “${docName(d)}” and its passages? This cannot be undone.`)) return;
  button.disabled = true;
  try {
    await api(`v1/documents/${encodeURIComponent(d.doc_id)}`, { method: "DELETE" });
    state.notice = `Deleted ${docName(d)}.`;
    state.documents = state.documents.filter((x) => x.doc_id !== d.doc_id);
    render();
    ui.search.focus();
  } catch (err) {
    button.disabled = false;
    if (handleAuthFailure(err)) return;
    say(ui.status, `${docName(d)} was not deleted: ${describeError(err)}`, "error");
  }
}

/** While some document is queued or being read, the list refreshes itself. */
function scheduleRefresh() {
  clearTimeout(state.refresh);
  const busy = state.documents.some((d) => ["Queued", "Ingesting"].includes(stateLabel(d.state)));
  if (!busy && state.polls.size === 0) return;
  state.refresh = setTimeout(() => {
    if (!ui.view.hidden) loadDocuments();
  }, REFRESH_MS);
}

// ---------------------------------------------------------------------------- uploads

function choose(files) {
  const names = new Set(state.pending.map((f) => f.name));
  for (const f of files) if (!names.has(f.name)) state.pending.push(f);
  ui.chosen.replaceChildren(
    ...state.pending.map((f) => el("li", { text: `${f.name} (${Math.max(1, Math.round(f.size / 1024))} KB)` })),
  );
  ui.uploadButton.disabled = state.pending.length === 0;
  ui.uploadButton.textContent = state.pending.length > 1 ? `Upload ${state.pending.length} files` : "Upload";
  say(ui.uploadError, "");
}

ui.files.addEventListener("change", () => choose([...ui.files.files]));
ui.drop.addEventListener("dragover", (event) => {
  event.preventDefault();
  ui.drop.classList.add("dragging");
});
ui.drop.addEventListener("dragleave", () => ui.drop.classList.remove("dragging"));
ui.drop.addEventListener("drop", (event) => {
  event.preventDefault();
  ui.drop.classList.remove("dragging");
  choose([...(event.dataTransfer?.files || [])]);
});

function chosenAcl() {
  const who = ui.uploadForm.querySelector('input[name="acl-choice"]:checked')?.value || "me";
  if (who === "everyone") return ["*"];
  if (who === "groups") {
    return ui.aclGroups.value
      .split(",")
      .map((g) => g.trim())
      .filter(Boolean)
      .map((g) => (g.includes(":") ? g : `group:${g}`));
  }
  return []; // the server always adds the uploader: only me
}

ui.uploadForm.addEventListener("change", (event) => {
  if (event.target.name === "acl-choice") ui.aclGroups.disabled = event.target.value !== "groups";
});

ui.uploadForm.addEventListener("submit", (event) => {
  event.preventDefault();
  if (!state.pending.length) {
    say(ui.uploadError, "Choose or drop at least one file first.", "error");
    ui.files.focus();
    return;
  }
  const acl = chosenAcl();
  const choice = ui.uploadForm.querySelector('input[name="acl-choice"]:checked')?.value;
  if (choice === "groups" && !acl.length) {
    say(ui.uploadError, "Name at least one group, or choose another option.", "error");
    ui.aclGroups.focus();
    return;
  }
  const metadata = ui.metadata.value.trim();
  if (metadata) {
    let parsed;
    try {
      parsed = JSON.parse(metadata);
    } catch {
      parsed = null;
    }
    if (!parsed || typeof parsed !== "object" || Array.isArray(parsed)) {
      say(ui.uploadError, 'Metadata must be a JSON object, e.g. {"kind": "memo"}.', "error");
      ui.metadata.focus();
      return;
    }
  }
  say(ui.uploadError, "");
  const files = state.pending;
  state.pending = [];
  ui.chosen.replaceChildren();
  ui.files.value = "";
  ui.uploadButton.disabled = true;
  ui.uploadButton.textContent = "Upload";
  for (const file of files) uploadOne(file, acl, metadata);
});

/** One file: a row with a progress bar through upload and ingest, then its outcome. */
async function uploadOne(file, acl, metadata) {
  const sid = session.id;
  const bar = el("progress", { max: 1, value: 0, "aria-label": `Progress of ${file.name}` });
  const text = el("span", { class: "upload-text", text: "Uploading…" });
  const item = el("li", { class: "upload-item", "data-file": file.name }, el("span", { class: "upload-name", text: file.name }), bar, text);
  ui.uploads.prepend(item);
  const form = new FormData();
  form.append("file", file, file.name);
  for (const entry of acl) form.append("acl", entry);
  if (metadata) form.append("metadata", metadata);
  const controller = new AbortController();
  state.polls.add(controller);
  let accepted;
  try {
    accepted = await uploadForm("v1/documents", form, {
      signal: controller.signal,
      onProgress: (sent, total) => {
        bar.value = total ? (sent / total) * 0.2 : 0; // the first fifth: the upload itself
        text.textContent = `Uploading: ${Math.round((sent / total) * 100)}%`;
      },
    });
  } catch (err) {
    state.polls.delete(controller);
    if (err.name === "AbortError" || sid !== session.id) return;
    if (handleAuthFailure(err)) return;
    fail(item, bar, text, `Not uploaded: ${describeError(err)}`);
    return;
  }
  bar.value = 0.2;
  text.textContent = "Uploaded; waiting to be read…";
  loadDocuments();
  await followJob(accepted.job_id, controller, {
    progress: (job) => {
      bar.value = 0.2 + 0.8 * (job.progress ?? 0);
      text.textContent = jobText(job);
    },
    finished: (job) => {
      const reason = jobFailure(job);
      if (reason) fail(item, bar, text, `Failed: ${reason}`);
      else {
        bar.value = 1;
        item.classList.add("upload-done");
        text.textContent = `Ready: ${count(job.chunks ?? 0, "passage")} indexed.`;
        say(ui.uploadStatus, `${file.name} is ready.`);
      }
    },
    error: (err) => fail(item, bar, text, `Its progress could not be read: ${describeError(err)}`),
  });
  state.polls.delete(controller);
  if (sid === session.id) loadDocuments();
}

function fail(item, bar, text, message) {
  item.classList.add("upload-failed");
  bar.value = bar.max;
  text.textContent = message;
  text.setAttribute("role", "alert");
}

/** Progress of a job in words: by page while a document is read. */
export function jobText(job) {
  const pagesDone = job.pages?.done;
  const pagesTotal = job.pages?.total;
  if (job.status === "queued") return "Waiting to be read…";
  if (job.status === "running" || job.status === "ingesting") {
    if (pagesTotal) return `Reading: page ${pagesDone ?? 0} of ${pagesTotal}`;
    const docs = job.documents?.total ?? job.total;
    const done = job.documents?.done ?? job.processed;
    if (docs > 1) return `Reading: ${done ?? 0} of ${docs} documents`;
    const share = Math.round((job.progress ?? 0) * 100);
    return share > 0 ? `Reading… ${share}%` : "Reading…";
  }
  return stateLabel(job.status);
}

/** Why a job failed in the user's words; "" when nothing failed. */
export function jobFailure(job) {
  const errors = job.errors || [];
  if (errors.length) {
    return errors
      .map((e) => [e.document || e.source_uri ? fileName({ source_uri: e.document || e.source_uri }) : "", e.reason || e.error]
        .filter(Boolean)
        .join(": "))
      .join("; ");
  }
  if (job.status === "failed") return job.error || "the job failed";
  return "";
}

/** Poll a job until it ends; calls progress(job) while it runs, finished(job) at the end. */
export async function followJob(jobId, controller, { progress, finished, error }) {
  const sid = session.id;
  for (;;) {
    let job;
    try {
      job = await api(`v1/jobs/${encodeURIComponent(jobId)}`, { signal: controller.signal });
    } catch (err) {
      if (err.name === "AbortError" || sid !== session.id) return;
      if (handleAuthFailure(err)) return;
      error(err);
      return;
    }
    if (sid !== session.id || controller.signal.aborted) return;
    if (!["queued", "running", "ingesting"].includes(job.status)) {
      finished(job);
      return;
    }
    progress(job);
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}

// ---------------------------------------------------------------------------- folder sync

ui.syncForm.addEventListener("submit", async (event) => {
  event.preventDefault();
  const path = ui.syncPath.value.trim();
  if (!path) {
    say(ui.syncStatus, "Enter the folder's path on the server.", "error");
    ui.syncPath.focus();
    return;
  }
  const body = { path, prune: ui.syncPrune.checked };
  const acl = ui.syncAcl.value
    .split(",")
    .map((e) => e.trim())
    .filter(Boolean);
  if (acl.length) body.acl = acl;
  say(ui.syncStatus, "Starting the sync…");
  const controller = new AbortController();
  state.polls.add(controller);
  let job;
  try {
    job = await api("v1/ingest", { method: "POST", body });
  } catch (err) {
    state.polls.delete(controller);
    if (handleAuthFailure(err)) return;
    say(ui.syncStatus, `The sync did not start: ${describeError(err)}`, "error");
    return;
  }
  say(ui.syncStatus, "Sync started.");
  await followJob(job.job_id, controller, {
    progress: (j) => say(ui.syncStatus, `Sync: ${jobText(j)}`),
    finished: (j) => {
      const reason = jobFailure(j);
      const c = j.counts || {};
      const summary = `${c.indexed ?? 0} indexed, ${c.unchanged ?? 0} unchanged, ${c.failed ?? 0} failed, ${c.deleted ?? 0} deleted`;
      say(ui.syncStatus, reason ? `Sync ended (${summary}). ${reason}` : `Sync done: ${summary}.`, reason ? "error" : "ok");
    },
    error: (err) => say(ui.syncStatus, `Its progress could not be read: ${describeError(err)}`, "error"),
  });
  state.polls.delete(controller);
  loadDocuments();
});

// ---------------------------------------------------------------------------- filters

let typing = null;
ui.search.addEventListener("input", () => {
  state.notice = "";
  render();
  clearTimeout(typing);
  typing = setTimeout(loadDocuments, 300);
});
ui.typeFilter.addEventListener("change", () => {
  render();
  loadDocuments();
});
ui.stateFilter.addEventListener("change", render);
