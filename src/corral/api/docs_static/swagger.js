// Starts Swagger UI on /docs. A file rather than an inline script, so the page's
// Content-Security-Policy can refuse every script the server did not ship.
/* global SwaggerUIBundle */
"use strict";

const root = document.getElementById("swagger-ui");

window.ui = SwaggerUIBundle({
  url: root.dataset.openapiUrl,
  domNode: root,
  layout: "BaseLayout",
  deepLinking: true,
  showExtensions: true,
  showCommonExtensions: true,
  // Nothing leaves the server: no badge from the public validator.
  validatorUrl: null,
  presets: [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset],
});
