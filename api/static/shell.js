// The shell: sign-in with an API key, who is signed in, and the navigation between the
// views (chat, library, admin for admins). Views are chosen by the URL's hash (#chat,
// #library, #admin), so the browser's back button and bookmarks work.
//
// The API key lives in memory, with sessionStorage as its only persistence (a reload keeps
// the tab signed in). Signing out (or a refused key) removes every entry this page, or an
// earlier version of it, stored under its prefix, and empties every view.

import { ApiError, api, describeError, hasRole, session, setAuthFailureHandler } from "./api.js";
import { $ } from "./dom.js";
import { abortStreaming, focusQuestion, resetChat, startChat } from "./chat.js";
import { resetLibrary, showLibrary } from "./library.js";
import { resetAdmin, showAdmin } from "./admin.js";
import { resetViewer } from "./viewer.js";

const STORAGE_PREFIX = "deepwell.";
const KEY_STORAGE = `${STORAGE_PREFIX}apiKey`;
const VIEWS = ["chat", "library", "admin"];

const ui = {
  skipLink: $("skip-link"),
  nav: $("main-nav"),
  navAdmin: $("nav-admin"),
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
  views: { chat: $("chat-view"), library: $("library-view"), admin: $("admin-view") },
  headings: { chat: $("question"), library: $("library-heading"), admin: $("admin-heading") },
};

let current = null;

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

function resetViews() {
  resetViewer();
  resetChat();
  resetLibrary();
  resetAdmin();
}

function showSignIn(message = "") {
  abortStreaming();
  session.id += 1;
  session.key = null;
  session.me = null;
  forgetStored();
  resetViews();
  for (const node of [ui.whoUser, ui.whoTenant, ui.whoRole]) node.textContent = "";
  ui.views.chat.setAttribute("aria-busy", "false");
  for (const view of Object.values(ui.views)) view.hidden = true;
  current = null;
  ui.nav.hidden = true;
  ui.navAdmin.hidden = true;
  ui.skipLink.hidden = true;
  ui.whoami.hidden = true;
  ui.signinView.hidden = false;
  ui.signinError.textContent = message;
  ui.apiKey.setAttribute("aria-invalid", message ? "true" : "false");
  ui.apiKey.value = "";
  ui.apiKey.focus();
}

setAuthFailureHandler(showSignIn);

async function signIn(key) {
  const me = await api("v1/me", { key });
  const user = me.user ?? me.user_id ?? me.principal?.user;
  if (!user) throw new ApiError(500, "bad_response", "The server did not say who you are.");
  forgetStored(); // whatever an earlier version of the page, or an earlier session, left
  session.id += 1;
  const sid = session.id;
  session.key = key; // null: a development-mode server that needs no key
  session.me = {
    user: String(user),
    tenant: String(me.tenant ?? me.principal?.tenant ?? "default"),
    role: String(me.role ?? me.principal?.role ?? ""),
    groups: me.groups || [],
    keyId: me.key_id || null,
  };
  if (key) {
    try {
      sessionStorage.setItem(KEY_STORAGE, key);
    } catch {
      // Storage disabled: the key stays in memory only (a reload signs out).
    }
  }
  resetViews();
  ui.whoUser.textContent = session.me.user;
  ui.whoTenant.textContent = session.me.tenant;
  ui.whoRole.textContent = session.me.role || "—";
  ui.signinView.hidden = true;
  ui.signinError.textContent = "";
  ui.whoami.hidden = false;
  ui.nav.hidden = false;
  ui.navAdmin.hidden = !hasRole("admin");
  ui.skipLink.hidden = false;
  const chat = startChat(sid);
  route({ focus: true });
  await chat;
}

/** The view the hash names, if the signed-in principal may see it; chat otherwise. */
function wanted() {
  const name = window.location.hash.replace(/^#\/?/, "");
  if (!VIEWS.includes(name)) return "chat";
  if (name === "admin" && !hasRole("admin")) return "chat";
  return name;
}

function route({ focus = false } = {}) {
  if (!session.me) return;
  const name = wanted();
  for (const [view, node] of Object.entries(ui.views)) node.hidden = view !== name;
  for (const link of ui.nav.querySelectorAll("a")) {
    if (link.getAttribute("href") === `#${name}`) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  ui.skipLink.href = name === "chat" ? "#question" : `#${ui.headings[name].id}`;
  ui.skipLink.textContent = name === "chat" ? "Skip to the question box" : "Skip to the content";
  const changed = current !== name;
  current = name;
  document.title = `deepwell · ${name[0].toUpperCase()}${name.slice(1)}`;
  if (name === "library" && changed) showLibrary();
  if (name === "admin" && changed) showAdmin();
  if (focus || changed) {
    if (name === "chat") focusQuestion();
    else ui.headings[name].focus();
  }
}

window.addEventListener("hashchange", () => route());

// The skip link moves the focus without touching the hash (which chooses the view).
ui.skipLink.addEventListener("click", (event) => {
  event.preventDefault();
  const target = document.getElementById(ui.skipLink.getAttribute("href").slice(1));
  target?.focus();
});

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

export async function start() {
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
