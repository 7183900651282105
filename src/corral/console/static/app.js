// @ts-check
/**
 * The console's shell: sign-in, navigation, the theme, keyboard shortcuts, and the router that
 * maps each address to its page. Every object has an address (`/runs/run_…`), so any view can be
 * linked to, reloaded, or opened in a new tab.
 */

import { api, credentials, whenSignedOut } from "./api.js";
import { h, replace } from "./dom.js";
import { keyboard } from "./keys.js";
import { navigate, signedIn } from "./nav.js";
import { routes } from "./pages/index.js";
import { signIn } from "./pages/signin.js";

/**
 * @typedef {object} Page
 * @property {HTMLElement} element
 * @property {() => void} [leave] stops what the page follows (streams, polling)
 */

const main = /** @type {HTMLElement} */ (document.getElementById("main"));
const who = /** @type {HTMLElement} */ (document.getElementById("who"));

/** @type {Page | null} */
let current = null;

async function render() {
  current?.leave?.();
  current = null;
  if (!credentials.key) {
    showSignIn();
    return;
  }
  if (!signedIn.current) {
    try {
      signedIn.current = await api("/v1/whoami");
    } catch {
      showSignIn();
      return;
    }
    showIdentity();
  }
  const path = location.pathname === "/" ? "/runs" : location.pathname;
  const params = new URLSearchParams(location.search);
  for (const route of routes) {
    const match = route.pattern.exec(path);
    if (!match) continue;
    document.title = `${route.title} · Corral`;
    markSection(route.section);
    const page = route.page(match.slice(1).map(decodeURIComponent), params);
    current = page;
    replace(main, page.element);
    main.focus({ preventScroll: true });
    return;
  }
  replace(main, h("h1", null, "Not found"), h("p", null, `Nothing lives at ${path}.`));
}

/** @param {string} section */
function markSection(section) {
  for (const anchor of document.querySelectorAll("nav.sections a")) {
    const here = anchor.getAttribute("data-section") === section;
    if (here) anchor.setAttribute("aria-current", "page");
    else anchor.removeAttribute("aria-current");
  }
}

function showSignIn() {
  signedIn.current = null;
  document.body.classList.add("signed-out");
  replace(who);
  document.title = "Sign in · Corral";
  replace(
    main,
    signIn(async (key) => {
      const found = await api("/v1/whoami", { key });
      credentials.remember(key);
      signedIn.current = found;
      document.body.classList.remove("signed-out");
      showIdentity();
      render();
    }),
  );
}

function showIdentity() {
  const identity = signedIn.current;
  if (!identity) return;
  document.body.classList.remove("signed-out");
  replace(
    who,
    h("span", { class: "workspace", title: identity.workspace.id }, identity.workspace.name),
    h("span", { class: "key muted", title: identity.key.id }, identity.key.name),
    h(
      "button",
      {
        type: "button",
        class: "link",
        onclick: () => {
          credentials.forget();
          signedIn.current = null;
          render();
        },
      },
      "Sign out",
    ),
  );
}

/** Light, dark, or as the system says; the choice is kept in this browser. */
function setUpTheme() {
  const saved = localStorage.getItem("corral.theme");
  if (saved === "light" || saved === "dark") document.documentElement.dataset.theme = saved;
  const button = /** @type {HTMLButtonElement} */ (document.getElementById("theme"));
  button.addEventListener("click", toggleTheme);
}

function toggleTheme() {
  const dark =
    document.documentElement.dataset.theme === "dark" ||
    (!document.documentElement.dataset.theme && matchMedia("(prefers-color-scheme: dark)").matches);
  const next = dark ? "light" : "dark";
  document.documentElement.dataset.theme = next;
  localStorage.setItem("corral.theme", next);
}

document.addEventListener("click", (event) => {
  const target = /** @type {Element | null} */ (event.target);
  const anchor = target?.closest?.("a[data-nav]");
  if (!anchor || !(anchor instanceof HTMLAnchorElement)) return;
  if (event.metaKey || event.ctrlKey || event.shiftKey || event.button !== 0) return;
  event.preventDefault();
  navigate(anchor.pathname + anchor.search);
});
window.addEventListener("popstate", () => render());
window.addEventListener("corral:navigate", () => render());
whenSignedOut(() => {
  credentials.forget();
  if (signedIn.current) {
    signedIn.current = null;
    render();
  }
});
setUpTheme();
keyboard({ navigate, toggleTheme });
render();
