// @ts-check
/** Bar charts drawn as SVG: enough for usage by day, agent and model, with no library. */

const SVG = "http://www.w3.org/2000/svg";

/**
 * @param {string} tag
 * @param {Record<string, string | number>} attributes
 * @param {string} [text]
 */
function svg(tag, attributes, text) {
  const element = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes)) element.setAttribute(name, String(value));
  if (text !== undefined) element.textContent = text;
  return element;
}

/**
 * Vertical bars, one per label (days, in order), with the value written on hover.
 * @param {{label: string, value: number}[]} points
 * @param {(value: number) => string} format
 * @param {string} title
 */
export function columns(points, format, title) {
  const width = 800;
  const height = 180;
  const top = Math.max(...points.map((point) => point.value), 0) || 1;
  const chart = svg("svg", { viewBox: `0 0 ${width} ${height + 34}`, role: "img", class: "chart", "aria-label": title });
  const step = width / Math.max(points.length, 1);
  points.forEach((point, index) => {
    const barHeight = (point.value / top) * height;
    const bar = svg("rect", {
      x: index * step + step * 0.15,
      y: height - barHeight,
      width: step * 0.7,
      height: Math.max(barHeight, point.value > 0 ? 1 : 0),
      rx: 2,
      class: "bar",
    });
    bar.append(svg("title", {}, `${point.label}: ${format(point.value)}`));
    chart.append(bar);
    if (points.length <= 14 || index % Math.ceil(points.length / 14) === 0) {
      chart.append(svg("text", { x: index * step + step / 2, y: height + 16, "text-anchor": "middle", class: "axis" }, point.label.slice(5)));
    }
  });
  chart.append(svg("text", { x: 0, y: height + 32, class: "axis" }, `highest: ${format(top)}`));
  return chart;
}

/**
 * Horizontal bars, largest first, each labelled with its name and value.
 * @param {{label: string, value: number}[]} points
 * @param {(value: number) => string} format
 * @param {string} title
 */
export function bars(points, format, title) {
  const sorted = [...points].sort((a, b) => b.value - a.value).slice(0, 12);
  const rowHeight = 26;
  const width = 560;
  const labelWidth = 200;
  const top = Math.max(...sorted.map((point) => point.value), 0) || 1;
  const chart = svg("svg", { viewBox: `0 0 ${width} ${Math.max(sorted.length, 1) * rowHeight}`, role: "img", class: "chart", "aria-label": title });
  sorted.forEach((point, index) => {
    const y = index * rowHeight;
    chart.append(svg("text", { x: 0, y: y + 17, class: "label" }, point.label.length > 28 ? `${point.label.slice(0, 27)}…` : point.label));
    const length = ((width - labelWidth - 90) * point.value) / top;
    chart.append(svg("rect", { x: labelWidth, y: y + 5, width: Math.max(length, point.value > 0 ? 1 : 0), height: rowHeight - 10, rx: 2, class: "bar" }));
    chart.append(svg("text", { x: labelWidth + length + 6, y: y + 17, class: "value" }, format(point.value)));
  });
  return chart;
}
