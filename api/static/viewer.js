// The source viewer: a citation (or a library document) opens its source in a dialog.
// For a PDF, the cited page rendered by pdf.js from the original file (GET
// v1/documents/{id}/file, fetched with the key) with the passage's boxes highlighted; for
// other formats, the passage inside its section. The passage's text is always shown too.

import { api, describeError, handleAuthFailure, request } from "./api.js";
import { $, docName, el, fileName, isPdf, pages, sectionText } from "./dom.js";

const PDFJS_DIR = "./vendor/pdfjs-dist-6.5.438/";

const ui = {
  dialog: $("citation-dialog"),
  title: $("citation-title"),
  close: $("citation-close"),
  document: $("citation-document"),
  file: $("citation-file"),
  page: $("citation-page"),
  section: $("citation-section"),
  status: $("citation-status"),
  pdf: $("viewer-pdf"),
  canvas: $("viewer-canvas"),
  boxes: $("viewer-boxes"),
  pdfStatus: $("viewer-status"),
  nav: $("viewer-nav"),
  prev: $("viewer-prev"),
  next: $("viewer-next"),
  passageHeading: $("citation-passage-heading"),
  text: $("citation-text"),
};

const state = {
  opener: null, // the button that opened the dialog; focus returns there
  token: 0, // bumped at every open: late replies of an older one are dropped
  files: new Map(), // doc_id -> Promise of a pdf.js document, for this sign-in only
  shown: null, // {docId, page, pages, boxes}: the PDF page on view
};

let pdfjs = null;

async function loadPdfjs() {
  if (!pdfjs) {
    pdfjs = await import(`${PDFJS_DIR}pdf.min.mjs`);
    pdfjs.GlobalWorkerOptions.workerSrc = new URL(`${PDFJS_DIR}pdf.worker.min.mjs`, import.meta.url).toString();
  }
  return pdfjs;
}

/** Forget every file and passage shown (at sign-out). */
export function resetViewer() {
  state.token += 1;
  for (const loading of state.files.values()) {
    loading.then((doc) => doc.destroy()).catch(() => {});
  }
  state.files.clear();
  if (ui.dialog.open) ui.dialog.close();
  ui.title.textContent = "Source";
  for (const node of [ui.document, ui.file, ui.page, ui.section, ui.status, ui.pdfStatus, ui.text]) {
    node.textContent = "";
  }
  ui.boxes.replaceChildren();
  ui.pdf.hidden = true;
  ui.nav.hidden = true;
  state.shown = null;
  const ctx = ui.canvas.getContext("2d");
  ctx.clearRect(0, 0, ui.canvas.width, ui.canvas.height);
}

function show(opener, c) {
  state.opener = opener;
  state.token += 1;
  ui.title.textContent = c.n != null ? `[${c.n}] ${docName(c)}` : docName(c);
  ui.document.textContent = docName(c);
  ui.file.textContent = fileName(c) || "—";
  ui.page.textContent = pages(c) || "—";
  ui.section.textContent = sectionText(c.section) || "—";
  ui.boxes.replaceChildren();
  ui.pdf.hidden = true;
  ui.nav.hidden = true;
  state.shown = null;
  ui.pdfStatus.textContent = "";
  if (!ui.dialog.open) ui.dialog.showModal();
  ui.close.focus();
  return state.token;
}

/** Open a cited passage `c` (a citation of an answer); `opener` gets the focus back. */
export async function openCitation(c, opener) {
  const token = show(opener, c);
  ui.status.textContent = "Loading the passage…";
  ui.passageHeading.textContent = sectionText(c.section) || "Passage";
  ui.text.textContent = c.snippet || "";
  ui.text.classList.add("passage");

  let chunk = null;
  const path = `v1/documents/${encodeURIComponent(c.doc_id)}/chunks/${encodeURIComponent(c.chunk_id)}`;
  try {
    chunk = await api(path);
  } catch (err) {
    if (token !== state.token) return;
    if (handleAuthFailure(err)) return;
    ui.status.textContent = `Showing the excerpt saved with the answer; the full passage could not be loaded (${describeError(err)}).`;
  }
  if (token !== state.token) return; // another source was opened meanwhile
  const merged = { ...c, ...(chunk || {}) };
  if (chunk) {
    ui.title.textContent = `[${c.n}] ${docName(merged)}`;
    ui.document.textContent = docName(merged);
    ui.file.textContent = fileName(merged) || fileName(c) || "—";
    ui.page.textContent = pages(merged) || "—";
    ui.section.textContent = sectionText(merged.section) || "—";
    ui.passageHeading.textContent = sectionText(merged.section) || "Passage";
    ui.text.textContent = chunk.text;
    ui.status.textContent = "";
  }
  if (isPdf(merged) && merged.page_start != null) {
    const boxes = merged.boxes || c.boxes || [];
    const page = boxes.length ? boxes[0].page : merged.page_start;
    await showPdfPage(token, merged.doc_id, page, boxes);
  }
}

/** Open a library document: a PDF's first page, else its description. */
export async function openDocument(doc, opener) {
  const token = show(opener, doc);
  ui.status.textContent = "";
  ui.page.textContent = doc.pages ? `${doc.pages} page${doc.pages === 1 ? "" : "s"}` : "—";
  ui.passageHeading.textContent = "Document";
  ui.text.classList.remove("passage");
  ui.text.textContent = [docName(doc), doc.chunks ? `${doc.chunks} passages indexed` : ""]
    .filter(Boolean)
    .join(" · ");
  if (isPdf(doc)) await showPdfPage(token, doc.doc_id, 1, []);
}

function pdfFile(docId) {
  if (!state.files.has(docId)) {
    const loading = (async () => {
      const response = await request(`v1/documents/${encodeURIComponent(docId)}/file`, {
        accept: "application/pdf",
      });
      const data = new Uint8Array(await response.arrayBuffer());
      const lib = await loadPdfjs();
      return lib.getDocument({
        data,
        isEvalSupported: false,
        standardFontDataUrl: new URL(`${PDFJS_DIR}standard_fonts/`, import.meta.url).toString(),
      }).promise;
    })();
    loading.catch(() => state.files.delete(docId)); // a failure is not kept: retry next time
    state.files.set(docId, loading);
  }
  return state.files.get(docId);
}

/** Render page `pageNo` (1-based) of a PDF document with `boxes` (page fractions) marked. */
async function showPdfPage(token, docId, pageNo, boxes) {
  ui.pdfStatus.textContent = `Loading page ${pageNo} of the PDF…`;
  let doc;
  try {
    doc = await pdfFile(docId);
  } catch (err) {
    if (token !== state.token) return;
    if (handleAuthFailure(err)) return;
    ui.pdfStatus.textContent = `The PDF page could not be shown (${describeError(err)}); the passage's text is below.`;
    return;
  }
  if (token !== state.token) return;
  const number = Math.min(Math.max(1, pageNo), doc.numPages);
  const page = await doc.getPage(number);
  if (token !== state.token) return;
  const width = Math.max(280, (ui.pdf.parentElement.clientWidth || 600) - 2); // less the border
  const base = page.getViewport({ scale: 1 });
  const viewport = page.getViewport({ scale: width / base.width });
  const ratio = window.devicePixelRatio || 1;
  ui.canvas.width = Math.floor(viewport.width * ratio);
  ui.canvas.height = Math.floor(viewport.height * ratio);
  ui.canvas.style.width = `${Math.floor(viewport.width)}px`;
  ui.canvas.style.height = `${Math.floor(viewport.height)}px`;
  ui.pdf.style.width = `${Math.floor(viewport.width)}px`;
  const mine = boxes.filter((b) => b.page === number);
  state.shown = { docId, page: number, pages: doc.numPages, boxes };
  ui.nav.hidden = doc.numPages < 2;
  ui.prev.disabled = number <= 1;
  ui.next.disabled = number >= doc.numPages;
  ui.canvas.setAttribute(
    "aria-label",
    `Page ${number} of ${doc.numPages}${mine.length ? ", with the cited passage highlighted" : ""}`,
  );
  ui.pdf.hidden = false;
  await page.render({
    canvas: ui.canvas,
    canvasContext: ui.canvas.getContext("2d"),
    viewport,
    transform: ratio !== 1 ? [ratio, 0, 0, ratio, 0, 0] : undefined,
  }).promise;
  if (token !== state.token) return;
  ui.boxes.replaceChildren(
    ...mine.map((b) => {
      const mark = el("div", { class: "pdf-highlight" });
      // Through the CSSOM: the page's CSP allows no inline style attributes.
      Object.assign(mark.style, {
        left: `${b.x0 * 100}%`,
        top: `${b.y0 * 100}%`,
        width: `${(b.x1 - b.x0) * 100}%`,
        height: `${(b.y1 - b.y0) * 100}%`,
      });
      return mark;
    }),
  );
  ui.pdf.dataset.page = String(number);
  ui.pdfStatus.textContent = mine.length
    ? `Page ${number} of ${doc.numPages}; the cited passage is highlighted.`
    : `Page ${number} of ${doc.numPages}.`;
  ui.boxes.firstElementChild?.scrollIntoView({ block: "center" });
}

/** Another page of the PDF on view (the passage stays highlighted wherever it lies). */
function turn(by) {
  const shown = state.shown;
  if (!shown) return;
  const page = shown.page + by;
  if (page < 1 || page > shown.pages) return;
  state.token += 1;
  showPdfPage(state.token, shown.docId, page, shown.boxes).then(() => {
    // At the first or last page the button pressed is disabled: keep the focus nearby.
    const [pressed, other] = by < 0 ? [ui.prev, ui.next] : [ui.next, ui.prev];
    if (pressed.disabled && ui.dialog.open) other.focus();
  });
}

ui.prev.addEventListener("click", () => turn(-1));
ui.next.addEventListener("click", () => turn(1));
ui.close.addEventListener("click", () => ui.dialog.close());
ui.dialog.addEventListener("click", (event) => {
  if (event.target === ui.dialog) ui.dialog.close(); // a click on the backdrop
});
ui.dialog.addEventListener("close", () => {
  state.token += 1;
  const opener = state.opener;
  state.opener = null;
  if (opener && opener.isConnected) opener.focus();
});
