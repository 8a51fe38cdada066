// Hand-drawn SVG line charts for the dashboard. Every label is set with textContent.
"use strict";

const SVG_NS = "http://www.w3.org/2000/svg";
const PALETTE = ["#2563eb", "#16a34a", "#db2777", "#ea580c", "#7c3aed", "#0891b2", "#ca8a04", "#475569"];

function svgEl(tag, attrs) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [name, value] of Object.entries(attrs || {})) node.setAttribute(name, String(value));
  return node;
}

function niceMax(value) {
  if (!(value > 0)) return 1;
  const power = Math.pow(10, Math.floor(Math.log10(value)));
  for (const step of [1, 2, 2.5, 5, 10]) if (step * power >= value) return step * power;
  return 10 * power;
}

// Durations (ms) that split into 4 round ticks: 1 s .. 4 s, 10 s .. 40 s, 1 min .. 4 min, ...
const NICE_DURATIONS = [1, 2, 4, 10, 20, 40, 60, 120, 240, 600, 1200, 2400, 3600, 7200, 14400, 43200, 86400].map((s) => s * 1000);
function niceDurationMax(value) {
  return NICE_DURATIONS.find((candidate) => candidate >= value) || niceMax(value);
}
function tickDuration(ms) {
  if (ms === 0) return "0";
  if (ms % 3600e3 === 0) return `${ms / 3600e3} h`;
  if (ms % 60e3 === 0) return `${ms / 60e3} min`;
  return ms >= 1000 ? `${+(ms / 1000).toFixed(1)} s` : `${Math.round(ms)} ms`;
}

// series: [{name, color, points: [{t: Date, y: number}]}];
// options: {yMax or niceMax, format (tooltips), tick (axis labels, default format), start, end}
function lineChart(container, series, options) {
  container.replaceChildren();
  const width = 560, height = 220, left = 52, right = 12, top = 12, bottom = 28;
  const svg = svgEl("svg", {viewBox: `0 0 ${width} ${height}`, class: "line-chart", role: "img"});
  const points = series.flatMap((s) => s.points);
  if (points.length === 0) {
    const empty = document.createElement("p");
    empty.className = "muted empty";
    empty.textContent = "No ended runs in this range.";
    container.append(empty);
    return;
  }
  const start = options.start.getTime(), end = Math.max(options.end.getTime(), start + 1);
  const yMax = options.yMax || (options.niceMax || niceMax)(Math.max(...points.map((p) => p.y)));
  const x = (t) => left + ((t.getTime() - start) / (end - start)) * (width - left - right);
  const y = (v) => top + (1 - v / yMax) * (height - top - bottom);
  for (let i = 0; i <= 4; i++) {
    const value = (yMax * i) / 4;
    svg.append(svgEl("line", {x1: left, x2: width - right, y1: y(value), y2: y(value), class: "gridline"}));
    const label = svgEl("text", {x: left - 8, y: y(value) + 4, class: "axis-label", "text-anchor": "end"});
    label.textContent = (options.tick || options.format)(value);
    svg.append(label);
  }
  for (let i = 0; i <= 3; i++) {
    const t = new Date(start + ((end - start) * i) / 3);
    const label = svgEl("text", {x: x(t), y: height - 8, class: "axis-label",
      "text-anchor": i === 0 ? "start" : i === 3 ? "end" : "middle"});
    label.textContent = t.toLocaleString(undefined, {month: "short", day: "numeric", hour: "2-digit", minute: "2-digit"});
    svg.append(label);
  }
  for (const s of series) {
    if (s.points.length === 0) continue;
    const path = s.points.map((p, i) => `${i ? "L" : "M"}${x(p.t).toFixed(1)},${y(p.y).toFixed(1)}`).join(" ");
    const group = svgEl("g", {class: "series"});
    const title = svgEl("title");
    title.textContent = s.name;
    group.append(title, svgEl("path", {d: path, stroke: s.color, class: "series-line"}));
    for (const p of s.points) {
      const dot = svgEl("circle", {cx: x(p.t).toFixed(1), cy: y(p.y).toFixed(1), r: 2.5, fill: s.color});
      const tip = svgEl("title");
      tip.textContent = `${s.name}: ${options.format(p.y)} (${p.t.toLocaleString()})`;
      dot.append(tip);
      group.append(dot);
    }
    svg.append(group);
  }
  container.append(svg);
}

window.telemetryCharts = {lineChart, PALETTE, niceDurationMax, tickDuration};
