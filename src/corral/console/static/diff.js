// @ts-check
/** Two texts side by side, lines paired by their longest common subsequence. */

/**
 * @typedef {{left: string | null, right: string | null, kind: "same" | "removed" | "added" | "changed"}} Row
 */

/**
 * @param {string} before
 * @param {string} after
 * @returns {Row[]}
 */
export function sideBySide(before, after) {
  const a = before.split("\n");
  const b = after.split("\n");
  // lengths[i][j]: the longest common subsequence of a[i:] and b[j:]
  const lengths = Array.from({ length: a.length + 1 }, () => new Int32Array(b.length + 1));
  for (let i = a.length - 1; i >= 0; i--) {
    for (let j = b.length - 1; j >= 0; j--) {
      lengths[i][j] = a[i] === b[j] ? lengths[i + 1][j + 1] + 1 : Math.max(lengths[i + 1][j], lengths[i][j + 1]);
    }
  }
  /** @type {Row[]} */
  const rows = [];
  /** @type {string[]} */
  let removed = [];
  /** @type {string[]} */
  let added = [];
  const settle = () => {
    const count = Math.max(removed.length, added.length);
    for (let k = 0; k < count; k++) {
      const left = removed[k] ?? null;
      const right = added[k] ?? null;
      rows.push({ left, right, kind: left !== null && right !== null ? "changed" : left !== null ? "removed" : "added" });
    }
    removed = [];
    added = [];
  };
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    if (i < a.length && j < b.length && a[i] === b[j]) {
      settle();
      rows.push({ left: a[i], right: b[j], kind: "same" });
      i++;
      j++;
    } else if (j < b.length && (i === a.length || lengths[i][j + 1] >= lengths[i + 1][j])) {
      added.push(b[j++]);
    } else {
      removed.push(a[i++]);
    }
  }
  settle();
  return rows;
}
