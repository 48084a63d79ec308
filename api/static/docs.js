// Swagger UI on /docs, from the vendored bundle (no CDN, no inline script: the page's
// Content-Security-Policy allows scripts from this origin only).
"use strict";

window.ui = SwaggerUIBundle({
  url: "openapi.json",
  dom_id: "#swagger-ui",
  layout: "BaseLayout",
  deepLinking: true,
  showExtensions: true,
  showCommonExtensions: true,
  validatorUrl: null, // the default sends the spec to validator.swagger.io
  presets: [SwaggerUIBundle.presets.apis],
});
