// @ts-check
/**
 * JSON values written as YAML, for showing an agent as the manifest `corral agents apply` reads.
 * Strings are quoted whenever plain YAML could read them as something else.
 */

const PLAIN_KEY = /^[A-Za-z_][A-Za-z0-9_.-]*$/;
const RESERVED = /^(true|false|yes|no|on|off|null|~|y|n)$/i;
/** What makes a plain scalar read as something else: an indicator first, a number, a comment. */
const AMBIGUOUS = /^[-?:,[\]{}#&*!|>'"%@`\s]|^[-+]?\.?\d|: |\s#|:$|\s$/;

/** @param {string} text */
function scalarString(text) {
  if (text.includes("\n")) return null; // written as a block
  if (text && !AMBIGUOUS.test(text) && !RESERVED.test(text)) return text;
  return JSON.stringify(text);
}

/** @param {unknown} value */
function scalar(value) {
  if (value === null || value === undefined) return "null";
  if (typeof value === "string") return scalarString(value);
  if (typeof value === "number" || typeof value === "boolean") return String(value);
  return null;
}

/** @param {string} key */
function keyOf(key) {
  return PLAIN_KEY.test(key) && !RESERVED.test(key) ? key : JSON.stringify(key);
}

/**
 * @param {unknown} value
 * @param {number} depth
 * @returns {string[]}
 */
function lines(value, depth) {
  const pad = "  ".repeat(depth);
  if (Array.isArray(value)) {
    if (!value.length) return [`${pad}[]`];
    return value.flatMap((item) => {
      const inner = lines(item, depth + 1);
      const first = inner[0].trimStart();
      return [`${pad}- ${first}`, ...inner.slice(1)];
    });
  }
  if (value && typeof value === "object") {
    const entries = Object.entries(value);
    if (!entries.length) return [`${pad}{}`];
    return entries.flatMap(([key, item]) => {
      const simple = scalar(item);
      if (simple !== null) return [`${pad}${keyOf(key)}: ${simple}`];
      if (typeof item === "string") {
        return [`${pad}${keyOf(key)}: |${item.endsWith("\n") ? "" : "-"}`, ...item.replace(/\n$/, "").split("\n").map((line) => `${pad}  ${line}`)];
      }
      if ((Array.isArray(item) && !item.length) || (item && typeof item === "object" && !Object.keys(item).length)) {
        return [`${pad}${keyOf(key)}: ${Array.isArray(item) ? "[]" : "{}"}`];
      }
      return [`${pad}${keyOf(key)}:`, ...lines(item, depth + 1)];
    });
  }
  const simple = scalar(value);
  return simple === null ? [`${pad}|-`, ...String(value).split("\n").map((line) => `${pad}  ${line}`)] : [`${pad}${simple}`];
}

/** @param {unknown} value */
export function toYaml(value) {
  return `${lines(value, 0).join("\n")}\n`;
}
