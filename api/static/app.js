// deepwell web app: sign in with an API key; ask questions and read the cited pages (chat,
// viewer); see, upload and manage documents (library); keys, feedback, jobs, the corpus and
// evaluations (admin, for admins).
//
// Plain ES modules, no build step; the only third-party code is pdf.js (vendored, loaded
// when a PDF page is first shown). Model output and document text are only ever inserted
// with textContent / text nodes, never as HTML.
//
//   api.js      HTTP: the key, JSON calls, uploads with progress, server-sent events, errors
//   dom.js      small DOM and formatting helpers
//   shell.js    sign-in, who is signed in, navigation between the views
//   chat.js     conversations, streamed answers with sources, feedback
//   viewer.js   a cited passage: the PDF page with the passage highlighted, or its section
//   library.js  documents: list, search, filters, upload with progress, delete, folder sync
//   admin.js    API keys, feedback queue, jobs and dead letters, corpus card, evaluation

import { start } from "./shell.js";

start();
