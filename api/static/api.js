// The HTTP side of the web app: the signed-in key, JSON calls, uploads with progress,
// server-sent events, and errors in words people read. No DOM here.

/** Who is signed in. `id` is bumped at every sign-in and sign-out: late replies of an older
 * session compare it and are dropped. */
export const session = { key: null, me: null, id: 0 };

let onAuthFailure = () => {};

/** Called with a message when the key stops being accepted (the shell shows the sign-in). */
export function setAuthFailureHandler(handler) {
  onAuthFailure = handler;
}

/** An API failure: HTTP status plus the server's `{"error": {"code", "message"}}`. */
export class ApiError extends Error {
  constructor(status, code, message, retryAfter = null) {
    super(message);
    this.status = status;
    this.code = code;
    this.retryAfter = retryAfter;
  }
}

export function apiUrl(path) {
  // Relative to the page, so the app also works behind a path prefix.
  return new URL(path, document.baseURI).toString();
}

function authHeaders(key = session.key) {
  return key ? { Authorization: `Bearer ${key}` } : {};
}

function parseError(status, statusText, text, retryAfter) {
  let code = "http_error";
  let message = statusText || `HTTP ${status}`;
  try {
    const body = JSON.parse(text);
    if (body && body.error) {
      code = body.error.code || code;
      message = body.error.message || message;
    } else if (body && typeof body.detail === "string") {
      message = body.detail;
    }
  } catch {
    // Not JSON (a proxy's error page): keep the status text.
  }
  return new ApiError(status, code, message, retryAfter);
}

export async function errorFrom(response) {
  let text = "";
  try {
    text = await response.text();
  } catch {
    // The body could not be read: the status says enough.
  }
  return parseError(response.status, response.statusText, text, response.headers.get("Retry-After"));
}

/** fetch with the key, no cookies, never cached; network failures become an ApiError. */
export async function request(path, { method = "GET", body, key = session.key, signal, accept } = {}) {
  const headers = { Accept: accept || "application/json", ...authHeaders(key) };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(apiUrl(path), {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal,
      credentials: "omit",
      cache: "no-store", // answers, passages and files never go to the browser's disk cache
    });
  } catch (err) {
    if (err.name === "AbortError") throw err;
    throw new ApiError(0, "network_error", "The server could not be reached.");
  }
  if (!response.ok) throw await errorFrom(response);
  return response;
}

/** A JSON call; null for 204. */
export async function api(path, options = {}) {
  const response = await request(path, options);
  return response.status === 204 ? null : response.json();
}

/**
 * POST a multipart form with upload progress (fetch cannot report it): onProgress(sent, total).
 * Resolves with the JSON reply; rejects with an ApiError. `signal` aborts it.
 */
export function uploadForm(path, form, { onProgress, signal } = {}) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", apiUrl(path));
    xhr.setRequestHeader("Accept", "application/json");
    for (const [name, value] of Object.entries(authHeaders())) xhr.setRequestHeader(name, value);
    xhr.upload.addEventListener("progress", (event) => {
      if (onProgress && event.lengthComputable) onProgress(event.loaded, event.total);
    });
    xhr.addEventListener("load", () => {
      if (xhr.status >= 200 && xhr.status < 300) {
        try {
          resolve(JSON.parse(xhr.responseText));
        } catch {
          reject(new ApiError(xhr.status, "bad_response", "The server's reply was not JSON."));
        }
        return;
      }
      reject(parseError(xhr.status, xhr.statusText, xhr.responseText, xhr.getResponseHeader("Retry-After")));
    });
    xhr.addEventListener("error", () => reject(new ApiError(0, "network_error", "The server could not be reached.")));
    xhr.addEventListener("abort", () => reject(new DOMException("aborted", "AbortError")));
    if (signal) signal.addEventListener("abort", () => xhr.abort());
    xhr.send(form);
  });
}

/**
 * Read server-sent events from a fetch response body.
 * Yields {event, data} with data parsed as JSON (the server only sends JSON).
 */
export async function* readEvents(response) {
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

/** Words people read, for an ApiError (never shows the key). */
export function describeError(err) {
  if (err.status === 429) {
    const wait = Number(err.retryAfter);
    const when = Number.isFinite(wait) && wait > 0 ? `in ${Math.ceil(wait)} s` : "in a moment";
    return `Too many requests. Please try again ${when}.`;
  }
  if (err.status === 504) return `The answer took too long (${err.message}). Please try again.`;
  if (err.status === 503) return `The service is busy or unavailable: ${err.message} Try again shortly.`;
  if (err.status >= 500) return `The server failed to answer (${err.code}): ${err.message}`;
  if (err.status === 0 || err.status === undefined) return err.message;
  return `${err.message} (${err.code})`;
}

/** Any 401 after sign-in: the key was revoked or expired. Returns whether it was one. */
export function handleAuthFailure(err) {
  if (err instanceof ApiError && err.status === 401) {
    onAuthFailure("Your API key is no longer accepted. Please sign in again.");
    return true;
  }
  return false;
}

/** Whether the signed-in principal has at least `role` (reader < writer < admin). */
export function hasRole(role) {
  const order = ["reader", "writer", "admin"];
  const mine = order.indexOf(session.me?.role ?? "");
  return mine >= 0 && mine >= order.indexOf(role);
}
