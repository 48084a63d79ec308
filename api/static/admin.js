// The admin area (role admin; the server checks every call): API keys, the feedback queue,
// ingest jobs and dead letters, the corpus data card, the latest evaluation and its trend.

import { ApiError, api, describeError, handleAuthFailure, request, session } from "./api.js";
import { $, count, docName, el, fileName, pages, say, when } from "./dom.js";
import { jobFailure, jobText, stateLabel } from "./library.js";

const ui = {
  view: $("admin-view"),
  keyForm: $("key-form"),
  keyUser: $("key-user"),
  keyGroups: $("key-groups"),
  keyRole: $("key-role"),
  keyName: $("key-name"),
  keyTenant: $("key-tenant"),
  keyError: $("key-error"),
  keyCreated: $("key-created"),
  keySecret: $("key-secret"),
  keyCopy: $("key-copy"),
  keyCopyStatus: $("key-copy-status"),
  keyRows: $("key-rows"),
  keyStatus: $("key-status"),
  feedbackList: $("feedback-list"),
  feedbackStatus: $("feedback-status-admin"),
  exportSft: $("export-sft"),
  exportPreference: $("export-preference"),
  exportStatus: $("export-status"),
  jobRows: $("job-rows"),
  jobStatus: $("job-status"),
  deadRows: $("dead-rows"),
  deadStatus: $("dead-status"),
  corpus: $("corpus-card"),
  corpusStatus: $("corpus-status"),
  evalSummary: $("eval-summary"),
  evalStatus: $("eval-status"),
};

/** Forget everything shown (at sign-out). */
export function resetAdmin() {
  for (const node of [ui.keyRows, ui.feedbackList, ui.jobRows, ui.deadRows, ui.corpus, ui.evalSummary]) {
    node.replaceChildren();
  }
  for (const node of [
    ui.keyError,
    ui.keyStatus,
    ui.keyCopyStatus,
    ui.feedbackStatus,
    ui.exportStatus,
    ui.jobStatus,
    ui.deadStatus,
    ui.corpusStatus,
    ui.evalStatus,
  ]) {
    say(node, "");
  }
  ui.keySecret.value = "";
  ui.keyCreated.hidden = true;
  ui.keyForm.reset();
}

/** Shown: load every section (each on its own; one failing does not hide the others). */
export function showAdmin() {
  ui.keyTenant.textContent = session.me?.tenant || "";
  return Promise.all([loadKeys(), loadFeedback(), loadJobs(), loadDeadLetters(), loadCorpus(), loadEval()]);
}

/** A GET whose failure is shown in `status`: 404/405 as "not on this server". */
async function load(path, status, what) {
  const sid = session.id;
  try {
    const reply = await api(path);
    return sid === session.id ? reply : null;
  } catch (err) {
    if (sid !== session.id || handleAuthFailure(err)) return null;
    // These are lists and reports: a 404 or 405 means the route itself is missing.
    if (err.status === 404 || err.status === 405) {
      say(status, `${what}: this server does not offer it yet.`);
    } else {
      say(status, `${what} could not be loaded: ${describeError(err)}`, "error");
    }
    return null;
  }
}

function table(caption, headings, rows) {
  return el(
    "div",
    { class: "table-wrap", tabIndex: 0, role: "region", "aria-label": caption },
    el(
      "table",
      {},
      el("caption", { class: "visually-hidden", text: caption }),
      el("thead", {}, el("tr", {}, ...headings.map((h) => el("th", { scope: "col", text: h })))),
      el("tbody", {}, ...rows),
    ),
  );
}

// ---------------------------------------------------------------------------- keys

async function loadKeys() {
  const reply = await load("v1/keys", ui.keyStatus, "Access keys");
  if (!reply) return;
  const keys = Array.isArray(reply) ? reply : reply.keys || [];
  ui.keyRows.replaceChildren(
    table(
      "Access keys",
      ["Name", "User", "Groups", "Role", "Key", "Created", "State", ""],
      keys.map((k) => {
        const actions = el("td", {});
        if (!k.revoked_at && k.key_id !== session.me?.keyId) {
          const revoke = el("button", {
            type: "button",
            class: "button-secondary button-danger",
            text: "Revoke",
            "aria-label": `Revoke the key ${k.name || k.prefix} of ${k.user}`,
          });
          revoke.addEventListener("click", () => revokeKey(k, revoke));
          actions.append(revoke);
        }
        return el(
          "tr",
          { "data-key-id": k.key_id },
          el("td", { text: k.name || "—" }),
          el("td", { text: k.user }),
          el("td", { text: (k.groups || []).join(", ") || "—" }),
          el("td", { text: k.role }),
          el("td", {}, el("code", { text: `${k.prefix}…` })),
          el("td", { text: when(k.created_at) }),
          el("td", { text: k.revoked_at ? `Revoked ${when(k.revoked_at)}` : "Active" }),
          actions,
        );
      }),
    ),
  );
  say(ui.keyStatus, `${count(keys.filter((k) => !k.revoked_at).length, "active key")}.`);
}

async function revokeKey(k, button) {
  if (!window.confirm(`Revoke the key of ${k.user}${k.name ? ` (${k.name})` : ""}? It stops working at once.`)) return;
  button.disabled = true;
  try {
    await api(`v1/keys/${encodeURIComponent(k.key_id)}`, { method: "DELETE" });
    say(ui.keyStatus, `Revoked the key of ${k.user}.`, "ok");
    await loadKeys();
  } catch (err) {
    button.disabled = false;
    if (handleAuthFailure(err)) return;
    say(ui.keyStatus, `Not revoked: ${describeError(err)}`, "error");
  }
}

ui.keyForm.addEventListener("submit", async (event) => {
  event.preventDefault();
  const user = ui.keyUser.value.trim();
  if (!user) {
    say(ui.keyError, "Enter the user the key is for.", "error");
    ui.keyUser.focus();
    return;
  }
  const body = {
    user,
    role: ui.keyRole.value,
    groups: ui.keyGroups.value
      .split(",")
      .map((g) => g.trim())
      .filter(Boolean),
    name: ui.keyName.value.trim(),
  };
  say(ui.keyError, "");
  try {
    const created = await api("v1/keys", { method: "POST", body });
    ui.keySecret.value = created.key;
    ui.keyCreated.hidden = false;
    say(ui.keyCopyStatus, "");
    ui.keyForm.reset();
    ui.keySecret.focus();
    ui.keySecret.select();
    await loadKeys();
  } catch (err) {
    if (handleAuthFailure(err)) return;
    say(ui.keyError, `The key was not created: ${describeError(err)}`, "error");
  }
});

ui.keyCopy.addEventListener("click", async () => {
  try {
    await navigator.clipboard.writeText(ui.keySecret.value);
    say(ui.keyCopyStatus, "Copied. It is not shown again: keep it somewhere safe.", "ok");
  } catch {
    ui.keySecret.focus();
    ui.keySecret.select();
    say(ui.keyCopyStatus, "Copying is blocked here: the key is selected, press Ctrl+C.");
  }
});

// ---------------------------------------------------------------------------- feedback

async function loadFeedback() {
  const reply = await load("v1/feedback?rating=down&limit=50", ui.feedbackStatus, "The feedback queue");
  if (!reply) return;
  const items = reply.feedback || [];
  ui.feedbackList.replaceChildren(
    ...items.map((f) =>
      el(
        "li",
        { class: "feedback-item", "data-feedback-id": f.feedback_id },
        el("h4", { text: f.question }),
        el("p", { class: "feedback-meta", text: `Rated down by ${f.user} · ${when(f.created_at)}` }),
        el("p", { class: "feedback-comment-text" }, el("strong", { text: "Comment: " }), f.comment || "—"),
        f.correction ? el("p", {}, el("strong", { text: "Correction: " }), f.correction) : "",
        el("details", {}, el("summary", { text: "Answer and sources" }), el("p", { class: "feedback-answer", text: f.answer }),
          el("ol", { class: "feedback-sources" }, ...(f.sources || []).map((s) =>
            el("li", { value: s.n, text: [docName(s), fileName(s), pages(s)].filter(Boolean).join(" · ") })))),
      ),
    ),
  );
  const withheld = reply.withheld ? ` ${count(reply.withheld, "more")} rest on documents you may not read.` : "";
  say(
    ui.feedbackStatus,
    items.length ? `${count(reply.total ?? items.length, "answer")} rated down.${withheld}` : `No answers rated down.${withheld}`,
  );
}

async function download(kind) {
  say(ui.exportStatus, "Preparing the export…");
  try {
    const response = await request(`v1/feedback/export?kind=${kind}`, { accept: "application/x-ndjson" });
    const blob = await response.blob();
    const link = el("a", { href: URL.createObjectURL(blob), download: `deepwell-feedback-${kind}.jsonl` });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(link.href), 10_000);
    say(ui.exportStatus, `Exported ${kind === "sft" ? "training examples" : "preference pairs"}.`, "ok");
  } catch (err) {
    if (handleAuthFailure(err)) return;
    say(ui.exportStatus, `Not exported: ${describeError(err)}`, "error");
  }
}

ui.exportSft.addEventListener("click", () => download("sft"));
ui.exportPreference.addEventListener("click", () => download("preference"));

// ---------------------------------------------------------------------------- jobs

async function loadJobs() {
  const reply = await load("v1/jobs?limit=50", ui.jobStatus, "Ingest jobs");
  if (!reply) return;
  const jobs = reply.jobs || [];
  ui.jobRows.replaceChildren(
    table(
      "Ingest jobs",
      ["Job", "Kind", "By", "State", "Progress", "Created", "Problems"],
      jobs.map((j) =>
        el(
          "tr",
          {},
          el("td", {}, el("code", { text: j.job_id.slice(0, 8) })),
          el("td", { text: j.kind || "—" }),
          el("td", { text: j.user || "—" }),
          el("td", { text: stateLabel(j.status) }),
          el("td", { text: ["done", "failed", "cancelled"].includes(j.status) ? `${Math.round((j.progress ?? 1) * 100)}%` : jobText(j) }),
          el("td", { text: when(j.created_at) }),
          el("td", { text: jobFailure(j) || "—" }),
        ),
      ),
    ),
  );
  say(ui.jobStatus, `${count(reply.total ?? jobs.length, "job")}.`);
}

async function loadDeadLetters() {
  const reply = await load("v1/jobs/dead-letters", ui.deadStatus, "Dead letters");
  if (!reply) return;
  const items = reply.dead_letters || reply.items || reply.jobs || [];
  ui.deadRows.replaceChildren(
    table(
      "Dead letters",
      ["What", "Reason", "When"],
      items.map((d) =>
        el(
          "tr",
          {},
          el("td", { text: d.document || d.source_uri || d.doc_id || d.job_id || "—" }),
          el("td", { text: d.reason || d.error || "—" }),
          el("td", { text: when(d.failed_at || d.finished_at || d.created_at) }),
        ),
      ),
    ),
  );
  say(ui.deadStatus, items.length ? `${count(items.length, "dead letter")}.` : "No dead letters.");
}

// ---------------------------------------------------------------------------- corpus, eval

/** Any JSON object as a definition list (nested objects indented, long lists cut). */
function describe(value, depth = 0) {
  if (value === null || value === undefined) return el("span", { text: "—" });
  if (typeof value !== "object") return el("span", { text: String(value) });
  if (Array.isArray(value)) {
    if (!value.length) return el("span", { text: "none" });
    if (value.every((v) => typeof v !== "object")) return el("span", { text: value.slice(0, 20).join(", ") });
    return el("ol", { class: "card-list" }, ...value.slice(0, 20).map((v) => el("li", {}, describe(v, depth + 1))));
  }
  if (depth > 3) return el("code", { text: JSON.stringify(value).slice(0, 200) });
  return el(
    "dl",
    { class: "card-dl" },
    ...Object.entries(value).flatMap(([k, v]) => [el("dt", { text: k.replaceAll("_", " ") }), el("dd", {}, describe(v, depth + 1))]),
  );
}

async function loadCorpus() {
  const reply = await load("v1/corpus/report", ui.corpusStatus, "The corpus data card");
  if (!reply) return;
  ui.corpus.replaceChildren(describe(reply));
  say(ui.corpusStatus, "");
}

async function loadEval() {
  const sid = session.id;
  let reply;
  try {
    reply = await api("v1/eval/report");
  } catch (err) {
    if (sid !== session.id || handleAuthFailure(err)) return;
    if (err instanceof ApiError && err.status === 404) {
      // The route's own 404 says why (no evaluation has run); a bare one: no such route.
      say(ui.evalStatus, /^not found$/i.test(err.message) ? "Evaluation reports: this server does not offer them yet." : err.message);
    } else say(ui.evalStatus, `The evaluation report could not be loaded: ${describeError(err)}`, "error");
    return;
  }
  if (sid !== session.id) return;
  const { trend, by_type: byType, stage_seconds: stages, report_url: _url, ...summary } = reply;
  ui.evalSummary.replaceChildren(
    describe(summary),
    Array.isArray(trend) && trend.length ? trendTable(trend) : "",
    byType ? el("details", {}, el("summary", { text: "Scores by question type" }), describe(byType)) : "",
  );
  say(ui.evalStatus, "");
}

/** Runs of the dataset, oldest first: one column per system and metric (at most eight). */
function trendTable(points) {
  const columns = [];
  for (const p of points) {
    for (const [system, scores] of Object.entries(p.summary || {})) {
      for (const metric of Object.keys(scores || {})) {
        if (!columns.some((c) => c.system === system && c.metric === metric)) columns.push({ system, metric });
      }
    }
  }
  const shown = columns.slice(0, 8);
  // A score is {mean, low, high} (a 95% interval) or a plain number.
  const number = (v) => {
    const x = v && typeof v === "object" ? v.mean : v;
    return typeof x === "number" ? String(Math.round(x * 1000) / 1000) : "—";
  };
  return table(
    "Evaluation trend",
    ["When", "Run", ...shown.map((c) => `${c.system}: ${c.metric.replaceAll("_", " ")}`)],
    points.map((p) =>
      el(
        "tr",
        {},
        el("td", { text: when(p.created_at) }),
        el("td", { text: `${String(p.run_id).slice(0, 8)}${p.accepted ? " (baseline)" : ""}` }),
        ...shown.map((c) => el("td", { class: "num", text: number(p.summary?.[c.system]?.[c.metric]) })),
      ),
    ),
  );
}
