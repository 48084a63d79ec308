// Small DOM and formatting helpers shared by the views. Text is only ever inserted with
// textContent / text nodes, never as HTML.

export const $ = (id) => document.getElementById(id);

export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (v === undefined || v === null) continue;
    if (k === "class") node.className = v;
    else if (k === "text") node.textContent = v;
    else if (k.startsWith("data-") || k.startsWith("aria-") || k === "role" || k === "for") {
      node.setAttribute(k, v);
    } else node[k] = v;
  }
  node.append(...children.filter((c) => c !== null && c !== undefined && c !== ""));
  return node;
}

export function uuid4() {
  if (window.crypto.randomUUID) return window.crypto.randomUUID();
  // randomUUID needs a secure context; getRandomValues does not.
  const b = window.crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** "p. 3" or "pp. 3–4" for a passage, "" without pages. */
export function pages(c) {
  if (c.page_start == null) return "";
  if (c.page_end == null || c.page_end === c.page_start) return `p. ${c.page_start}`;
  return `pp. ${c.page_start}–${c.page_end}`;
}

/** The file name of a document: its `filename`, else the last segment of its URI. */
export function fileName(c) {
  if (c.filename) return c.filename;
  const uri = c.source_uri || "";
  const last = uri.split(/[\\/]/).filter(Boolean).pop() || "";
  try {
    return decodeURIComponent(last);
  } catch {
    return last;
  }
}

/** A clean title: the document's title on one line, else its file name. */
export function docName(c) {
  const title = (c.title || "").replace(/\s+/g, " ").trim();
  return title || fileName(c) || c.doc_id || "Document";
}

export function sectionText(section) {
  return Array.isArray(section) ? section.filter(Boolean).join(" › ") : section || "";
}

export function isPdf(c) {
  const type = (c.type || c.file_type || "").toLowerCase();
  return type === "pdf" || type === "application/pdf" || /\.pdf$/i.test(fileName(c));
}

/** A date and time in the reader's locale, "" when absent. */
export function when(value) {
  if (!value) return "";
  const d = new Date(value);
  return Number.isNaN(d.getTime()) ? String(value) : d.toLocaleString();
}

/** Text of a number of things: "1 page", "3 pages". */
export function count(n, word) {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}

/** Show `message` in a status or alert element (empty hides nothing: the region stays). */
export function say(node, message, kind = "") {
  node.textContent = message;
  node.classList.toggle("form-error", kind === "error");
  node.classList.toggle("ok", kind === "ok");
}
