// @ts-check
/**
 * Keyboard shortcuts: `g` then a letter goes to a section, `j`/`k` move through a list and
 * `Enter` opens the selected row, `/` jumps to the filters, `t` switches the theme, `?` lists them.
 */

import { h } from "./dom.js";

/** @type {Record<string, [string, string]>} */
export const SECTIONS = {
  r: ["/runs", "Runs"],
  s: ["/sessions", "Sessions"],
  a: ["/agents", "Agents"],
  p: ["/approvals", "Approvals"],
  o: ["/routines", "Routines"],
  w: ["/webhooks", "Webhooks"],
  u: ["/usage", "Usage"],
  k: ["/keys", "Keys and secrets"],
  h: ["/server", "Server"],
};

/** @param {EventTarget | null} target */
function typing(target) {
  return (
    target instanceof HTMLInputElement ||
    target instanceof HTMLTextAreaElement ||
    target instanceof HTMLSelectElement ||
    (target instanceof HTMLElement && target.isContentEditable)
  );
}

/** @param {number} step */
function move(step) {
  const rows = [...document.querySelectorAll("#main table.list tbody tr[data-href]")];
  if (!rows.length) return;
  const at = rows.findIndex((row) => row.classList.contains("selected"));
  const next = rows[Math.min(rows.length - 1, Math.max(0, at + step))];
  rows[at]?.classList.remove("selected");
  next.classList.add("selected");
  next.scrollIntoView({ block: "nearest" });
}

function help() {
  const existing = document.getElementById("shortcuts");
  if (existing instanceof HTMLDialogElement) {
    existing.close();
    existing.remove();
    return;
  }
  const rows = [
    ...Object.entries(SECTIONS).map(([letter, [, name]]) => [`g ${letter}`, name]),
    ["j / k", "Next / previous row"],
    ["Enter", "Open the selected row"],
    ["/", "Filters"],
    ["t", "Light or dark theme"],
    ["?", "This list"],
  ];
  const dialog = h(
    "dialog",
    { id: "shortcuts", "aria-label": "Keyboard shortcuts" },
    h("h2", null, "Keyboard shortcuts"),
    h("table", null, h("tbody", null, rows.map(([keys, what]) => h("tr", null, h("td", null, h("kbd", null, keys)), h("td", null, what))))),
    h("form", { method: "dialog" }, h("button", null, "Close")),
  );
  dialog.addEventListener("close", () => dialog.remove());
  document.body.append(dialog);
  dialog.showModal();
}

/**
 * @param {{navigate: (path: string) => void, toggleTheme: () => void}} actions
 */
export function keyboard(actions) {
  let pendingG = false;
  document.addEventListener("keydown", (event) => {
    if (event.metaKey || event.ctrlKey || event.altKey || typing(event.target)) return;
    if (pendingG) {
      pendingG = false;
      const section = SECTIONS[event.key];
      if (section) {
        event.preventDefault();
        actions.navigate(section[0]);
      }
      return;
    }
    switch (event.key) {
      case "g":
        pendingG = true;
        setTimeout(() => (pendingG = false), 1500);
        return;
      case "j":
        return move(1);
      case "k":
        return move(-1);
      case "Enter": {
        const row = document.querySelector("#main table.list tbody tr.selected");
        const href = row?.getAttribute("data-href");
        if (href) actions.navigate(href);
        return;
      }
      case "/": {
        const filter = document.querySelector("#main [data-filter]");
        if (filter instanceof HTMLElement) {
          event.preventDefault();
          filter.focus();
        }
        return;
      }
      case "t":
        return actions.toggleTheme();
      case "?":
        return help();
    }
  });
}
