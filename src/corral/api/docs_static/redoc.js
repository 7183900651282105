// Starts ReDoc on /redoc. A file rather than an inline script, so the page's
// Content-Security-Policy can refuse every script the server did not ship.
/* global Redoc */
"use strict";

const root = document.getElementById("redoc");

Redoc.init(root.dataset.openapiUrl, {}, root);
