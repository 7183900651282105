// @ts-check
/** Moving between the console's pages without reloading, and who is signed in. */

/**
 * Shows the page at `path`, adding it to the history unless `replaceState`.
 * @param {string} path
 * @param {{replaceState?: boolean}} [options]
 */
export function navigate(path, options = {}) {
  if (path !== location.pathname + location.search) {
    if (options.replaceState) history.replaceState(null, "", path);
    else history.pushState(null, "", path);
  }
  window.dispatchEvent(new Event("corral:navigate"));
}

/**
 * @typedef {object} Identity
 * @property {{id: string, name: string}} workspace
 * @property {{id: string, name: string, scopes: string[]}} key
 * @property {any} limits
 * @property {any} sandbox
 */

/** @type {{current: Identity | null}} */
export const signedIn = { current: null };

/** Whether the signed-in key has `scope`, so a page can leave out what would be refused. @param {string} scope */
export function can(scope) {
  const scopes = signedIn.current?.key.scopes ?? [];
  return scopes.includes("admin") || scopes.includes(scope);
}

/**
 * Calls `load` now, then again `ms` after each call ends (five times as long in a hidden tab)
 * while `again()` holds; the function returned stops it, for a page's `leave`.
 * @param {number} ms
 * @param {(left: () => boolean) => Promise<void>} load told whether the page was left meanwhile
 * @param {() => boolean} [again]
 */
export function every(ms, load, again = () => true) {
  let timer = 0;
  let left = false;
  const tick = async () => {
    await load(() => left);
    if (!left && again()) timer = window.setTimeout(tick, document.hidden ? ms * 5 : ms);
  };
  tick();
  return () => {
    left = true;
    clearTimeout(timer);
  };
}
