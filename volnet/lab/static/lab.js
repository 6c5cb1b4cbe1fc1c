// volnet lab: the page. It draws what the server streams over /events and sends the controls back.
// Arrays arrive as 8-bit pictures (volnet/lab/wire.py): value = min + byte/255·(max − min).
"use strict";

const token = new URLSearchParams(location.search).get("token") || "";
const $ = (id) => document.getElementById(id);
const lab = { state: null, points: [], marks: [], layers: null, updates: 0, bytes: 0, received: [] };
window.lab = lab;  // for the browser tests and the curious

// ---- talking to the server --------------------------------------------------------------
async function send(path, body, raw) {
  const options = { method: "POST", headers: { "X-Volnet-Token": token } };
  if (raw) { options.body = body; } else { options.body = JSON.stringify(body); options.headers["Content-Type"] = "application/json"; }
  const response = await fetch(path, options);
  const answer = await response.json().catch(() => ({ error: `the server answered ${response.status}` }));
  if (!response.ok) throw new Error(answer.error || `the server answered ${response.status}`);
  return answer;
}

function showing(errorId, work) {
  return async (...args) => {
    $(errorId).textContent = "";
    try { return await work(...args); } catch (error) { $(errorId).textContent = error.message; }
  };
}

function connect() {
  const socket = new WebSocket(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/events?token=${encodeURIComponent(token)}`);
  socket.onmessage = (event) => { lab.bytes += event.data.length; receive(JSON.parse(event.data)); };
  socket.onclose = () => { $("running").textContent = "disconnected"; setTimeout(connect, 1000); };
}

function receive(message) {
  lab.updates += 1;
  lab.received.push(performance.now());
  ({ state: showState, history: showHistory, stats: addPoint, layers: showLayers, predictions: showPredictions })[message.kind](message);
}

// ---- numbers and colours ------------------------------------------------------------------
const fmt = (v, digits = 3) => v === null || v === undefined ? "–" : Math.abs(v) >= 1e4 || (Math.abs(v) < 1e-3 && v !== 0) ? v.toExponential(2) : (+v.toPrecision(digits)).toString();

function bytesOf(picture) {
  const text = atob(picture.data), bytes = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);
  return bytes;
}

// grey from low to high (activations), or blue–white–red around zero (gradients, weights)
function colour(byte, picture, diverging) {
  if (!diverging) return [byte, byte, byte];
  const value = picture.min + byte / 255 * (picture.max - picture.min);
  const extent = Math.max(Math.abs(picture.min), Math.abs(picture.max)) || 1, t = Math.min(1, Math.abs(value) / extent);
  const fade = Math.round(255 * (1 - t));
  return value >= 0 ? [255, fade, fade] : [fade, fade, 255];
}

// one canvas per slice of a picture (S, H, W) or one strip for a vector (D,); rgb draws a (3, H, W) picture in colour
function canvases(picture, { diverging = false, scale = 3, rgb = false } = {}) {
  const bytes = bytesOf(picture), shape = picture.shape;
  const [slices, height, width] = shape.length === 3 ? shape : shape.length === 2 ? [1, ...shape] : [1, 1, shape[0]];
  const made = [], area = height * width;
  for (let s = 0; s < (rgb ? 1 : slices); s++) {
    const canvas = document.createElement("canvas");
    canvas.width = width; canvas.height = height;
    canvas.className = "map";
    canvas.style.width = `${width * (shape.length === 1 ? Math.max(scale, 8) : scale)}px`;
    canvas.style.height = `${height * (shape.length === 1 ? Math.max(scale, 8) : scale)}px`;
    const context = canvas.getContext("2d"), image = context.createImageData(width, height);
    for (let i = 0; i < area; i++) {
      const rgbValues = rgb ? [bytes[i], bytes[area + i], bytes[2 * area + i]] : colour(bytes[s * area + i], picture, diverging);
      image.data.set([...rgbValues, 255], 4 * i);
    }
    context.putImageData(image, 0, 0);
    canvas.dataset.slice = s;
    made.push(canvas);
  }
  return made;
}

function element(tag, className, text) {
  const made = document.createElement(tag);
  if (className) made.className = className;
  if (text !== undefined) made.textContent = text;
  return made;
}

// ---- state and controls ---------------------------------------------------------------------
// a change of the settings, marked on the curves at the step from which it applies
const MARKED = { lr: "lr", optimizer: "optimizer", momentum: "momentum", batch_size: "batch", weight_decay: "decay" };
function markChanges(before, after) {
  if (!before || before.architecture !== after.architecture || before.dataset !== after.dataset) return;
  const changes = Object.entries(MARKED).filter(([key]) => before[key] !== after[key])
    .map(([key, name]) => `${name} ${typeof after[key] === "number" ? fmt(after[key]) : after[key]}`);
  if (changes.length) { lab.marks.push({ step: after.step, text: changes.join(", ") }); scheduleCurves(); }
}

function showState(state) {
  const before = lab.state;
  if (before && (state.step < before.step || state.architecture !== before.architecture || state.dataset !== before.dataset)) {
    lab.points = []; lab.marks = []; scheduleCurves();  // a fresh start (here or in another tab)
  }
  markChanges(before, state);
  lab.state = state;
  $("what").textContent = `${state.dataset} (${state.train_examples.toLocaleString()} training images) · ${state.architecture}`;
  $("epoch").textContent = state.epoch; $("step").textContent = state.step; $("lr").textContent = fmt(state.lr);
  $("running").textContent = state.paused ? "paused" : "training";
  $("running").classList.toggle("paused", state.paused);
  $("pause").textContent = state.paused ? "resume" : "pause";
  $("error").textContent = state.error || "";
  const optimizer = $("c-optimizer");
  if (!optimizer.options.length) for (const name of state.optimizers) optimizer.add(new Option(name, name));
  $("datasets").replaceChildren(...state.datasets.map((name) => new Option(name, name)));
  if (document.activeElement !== $("dataset")) $("dataset").value = state.dataset;
  for (const [id, value] of [["c-lr", state.lr], ["c-batch", state.batch_size], ["c-decay", state.weight_decay],
                             ["c-momentum", state.momentum]]) {
    if (document.activeElement !== $(id)) $(id).value = value === null || value === undefined ? "" : value;
  }
  if (document.activeElement !== optimizer) optimizer.value = state.optimizer;
  if (document.activeElement !== $("arch") && !$("arch").dataset.edited) $("arch").value = state.architecture;
}

$("pause").onclick = showing("control-error", () => send("control", { action: lab.state && lab.state.paused ? "resume" : "pause" }).then(showState));
$("one-step").onclick = showing("control-error", () => send("control", { action: "step" }).then(showState));
$("apply").onclick = showing("control-error", () => send("control", {
  lr: $("c-lr").value, momentum: $("c-momentum").value, batch_size: $("c-batch").value,
  weight_decay: $("c-decay").value, optimizer: $("c-optimizer").value }).then(showState));
$("arch").oninput = () => { $("arch").dataset.edited = "yes"; };
$("restart").onclick = showing("arch-error", async () => {
  const state = await send("restart", { architecture: $("arch").value, dataset: $("dataset").value });
  delete $("arch").dataset.edited;
  showState(state);
});
const lookAt = showing("look-error", async (index) => { $("index").value = index; await send("look", { index }); });
$("look").onclick = () => lookAt(+$("index").value);
$("next").onclick = () => lookAt(+$("index").value + 1);
$("upload").onchange = showing("look-error", async () => {
  const file = $("upload").files[0];
  if (!file) return;
  const answer = await send("upload", file, true);
  $("upload-result").textContent = `${file.name}: ` + answer.top.map(([name, p]) => `${name} ${(100 * p).toFixed(1)}%`).join(", ");
});
$("load").onchange = showing("model-error", async () => {
  const file = $("load").files[0];
  if (file) showState(await send("model", file, true));
});
$("snapshot").href = `snapshot?token=${encodeURIComponent(token)}`;

// ---- curves -------------------------------------------------------------------------------
function showHistory(message) { lab.points = message.points; drawCurves(); }

function addPoint(message) {
  const point = message.point;
  lab.points.push(point);
  if (lab.points.length > 4000) lab.points = lab.points.filter((_, i) => i % 2 === 0);
  if (point.lr !== undefined) {
    $("step").textContent = point.step; $("epoch").textContent = point.epoch; $("lr").textContent = fmt(point.lr);
    $("speed").textContent = point.examples_per_second ? Math.round(point.examples_per_second).toLocaleString() : "–";
  }
  scheduleCurves();
}

let curvesPending = false;
function scheduleCurves() {
  if (!curvesPending) { curvesPending = true; requestAnimationFrame(() => { curvesPending = false; drawCurves(); }); }
}

function drawCurve(canvas, series, fixedRange) {
  const context = canvas.getContext("2d"), width = canvas.width, height = canvas.height, left = 44, bottom = 22;
  context.clearRect(0, 0, width, height);
  const all = series.flatMap((s) => s.points);
  context.font = "11px system-ui"; context.fillStyle = "#5b6475";
  if (!all.length) { context.fillText("waiting for the first steps…", left, height / 2); return; }
  const steps = all.map((p) => p[0]), values = all.map((p) => p[1]);
  const x0 = Math.min(...steps), x1 = Math.max(x0 + 1, ...steps);
  let [y0, y1] = fixedRange || [Math.min(...values), Math.max(...values)];
  if (y1 - y0 < 1e-9) { y0 -= 0.5; y1 += 0.5; }
  const x = (s) => left + (s - x0) / (x1 - x0) * (width - left - 8), y = (v) => 6 + (y1 - v) / (y1 - y0) * (height - bottom - 6);
  context.strokeStyle = "#dde1e8"; context.beginPath();
  for (let i = 0; i <= 4; i++) {
    const v = y0 + (y1 - y0) * i / 4;
    context.moveTo(left, y(v)); context.lineTo(width - 8, y(v)); context.fillText(fmt(v, 2), 2, y(v) + 4);
  }
  context.stroke();
  context.fillText(`step ${x0}`, left, height - 6);
  context.textAlign = "right"; context.fillText(`step ${x1}`, width - 8, height - 6); context.textAlign = "left";
  context.setLineDash([4, 3]); context.strokeStyle = "#9aa3b3"; context.fillStyle = "#5b6475";
  for (const mark of lab.marks.filter((m) => m.step >= x0 && m.step <= x1)) {
    context.beginPath(); context.moveTo(x(mark.step), 6); context.lineTo(x(mark.step), height - bottom); context.stroke();
    context.fillText(mark.text, Math.min(x(mark.step) + 3, width - 8 - context.measureText(mark.text).width), 16);
  }
  context.setLineDash([]);
  for (const s of series) {
    context.strokeStyle = s.colour; context.fillStyle = s.colour; context.lineWidth = 1.5; context.beginPath();
    s.points.forEach(([step, value], i) => (i ? context.lineTo(x(step), y(value)) : context.moveTo(x(step), y(value))));
    context.stroke();
    if (s.dots) for (const [step, value] of s.points) { context.beginPath(); context.arc(x(step), y(value), 2, 0, 7); context.fill(); }
  }
  context.lineWidth = 1;
}

function drawCurves() {
  const pick = (key) => lab.points.filter((p) => p[key] !== undefined && p[key] !== null).map((p) => [p.step, p[key]]);
  const style = getComputedStyle(document.documentElement);
  const train = style.getPropertyValue("--train").trim(), val = style.getPropertyValue("--val").trim();
  drawCurve($("loss-curve"), [{ points: pick("loss"), colour: train }, { points: pick("val_loss"), colour: val, dots: true }]);
  drawCurve($("accuracy-curve"), [{ points: pick("accuracy"), colour: train }, { points: pick("val_accuracy"), colour: val, dots: true }], [0, 1]);
}

// ---- the input looked at and the layer cards ----------------------------------------------------
function bars(top, label, onClick) {
  const box = element("div", "bars");
  for (const [k, p] of top) {
    const bar = element("div", `bar ${label === null || label === undefined ? "" : k === label ? "right" : "wrong"}`);
    const track = element("div", "track"), fill = element("div", "fill");
    fill.style.width = `${(100 * p).toFixed(1)}%`;
    track.append(fill);
    bar.append(element("span", "name", lab.state ? lab.state.classes[k] : k), track, element("span", "p", `${(100 * p).toFixed(1)}%`));
    bar.dataset.class = k;
    if (onClick) bar.onclick = () => onClick(k);
    box.append(bar);
  }
  return box;
}

function drawInto(target, picture, options) {
  const [made] = canvases(picture, options);
  target.width = made.width; target.height = made.height;
  target.getContext("2d").drawImage(made, 0, 0);
}

function showLayers(message) {
  lab.layers = message;
  const subject = $("subject"), rgb = message.input.shape[0] === 3;
  drawInto(subject, message.input, { rgb });
  const truth = message.label === null ? "" : ` (true class: ${lab.state ? lab.state.classes[message.label] : message.label})`;
  $("subject-title").textContent = `Input: ${message.title}${truth}`;
  $("subject-top").replaceChildren(bars(message.top, message.label, saliency));
  $("cards").replaceChildren(...message.cards.map(card));
}

function stats(picture) {
  return element("div", "label", `min ${fmt(picture.min)} · max ${fmt(picture.max)} · mean ${fmt(picture.mean)}` +
    (picture.full.length === 3 && picture.full[0] > picture.shape[0] ? ` · first ${picture.shape[0]} of ${picture.full[0]} slices` : ""));
}

function card(info) {
  const box = element("div", "card"), about = element("div", "info"), maps = element("div", "maps");
  box.dataset.layer = info.index;
  about.append(element("div", "type", `${info.number}. ${info.type}`), element("div", "mono", info.label),
    element("div", "", `${info.input} → ${info.output}${(info.input + info.output).includes("×") ? " (W×H×D)" : ""}`), element("div", "mono", `parameters: ${info.parameters}`));
  if (info.update_ratio !== undefined && info.update_ratio !== null) about.append(element("div", "", `update/weight: ${info.update_ratio.toExponential(1)} (≈1e-3 is healthy)`));
  if (info.dead !== undefined) about.append(element("div", "", `dead ReLUs: ${(100 * info.dead).toFixed(1)}% (zero on the whole batch)`));
  for (const flag of info.flags) about.append(element("div", "flag", `⚠ ${flag}`));
  const section = (title, picture, options, group) => {
    const tiles = element("div", "tiles"), made = canvases(picture, options);
    if (group) {  // a filter bank: one framed row of depth slices per filter
      for (let k = 0; k < made.length; k += group) {
        const filter = element("span", "filter");
        filter.title = `filter ${k / group}`;
        filter.append(...made.slice(k, k + group));
        tiles.append(filter);
      }
    } else tiles.append(...made);
    maps.append(element("div", "label", title), stats(picture), tiles);
    return tiles;
  };
  const activations = section("activations", info.activation, { scale: info.activation.shape.length === 3 ? 3 : 8 });
  activations.classList.add("activations");
  if (info.clickable) {
    for (const canvas of activations.children) {
      canvas.classList.add("clickable");
      canvas.title = "click a number to see how it was computed";
      canvas.onclick = (event) => {
        const bounds = canvas.getBoundingClientRect();
        const step = info.activation.full[1] / info.activation.shape[1];
        const col = Math.floor((event.clientX - bounds.left) / bounds.width * canvas.width) * step;
        const row = Math.floor((event.clientY - bounds.top) / bounds.height * canvas.height) * step;
        neuron(info.index, +canvas.dataset.slice, row, col);
      };
    }
  }
  section("gradients dL/d(activation)", info.gradient, { diverging: true, scale: info.gradient.shape.length === 3 ? 3 : 8 });
  for (const weight of info.weights || []) {
    if (weight.value.data !== null) {
      const bank = weight.shape.length === 4, group = bank ? Math.min(weight.shape[1], 8) : 0;
      const scale = bank ? 6 : weight.shape.length === 2 ? Math.max(2, Math.min(8, Math.floor(600 / weight.shape[1]))) : 8;
      const filters = bank ? weight.value.shape[0] / group : 0, cuts = [];
      if (bank && filters < weight.shape[0]) cuts.push(`the first ${filters} filters`);
      if (bank && group < weight.shape[1]) cuts.push(`the first ${group} depth slices of each`);
      const shown = cuts.length ? ` (${cuts.join(", ")})` : "";
      const layout = bank ? " (K×D×F×F)" : weight.shape.length === 2 ? " (outputs × inputs)" : "";
      section(`${weight.name} ${weight.shape.join("×")}${layout}${shown}`, weight.value, { diverging: true, scale }, group);
      section(`${weight.name} gradient (of the last training batch)`, weight.grad, { diverging: true, scale }, group);
    } else {
      maps.append(element("div", "label", `${weight.name} ${weight.shape.join("×")} (too large to draw)`), stats(weight.value),
        element("div", "label", `${weight.name} gradient`), stats(weight.grad));
    }
  }
  box.append(about, maps);
  return box;
}

// ---- drill-downs ------------------------------------------------------------------------------
function highlight(layerIndex, rows, cols, slices) {
  document.querySelectorAll(".ring").forEach((ring) => ring.remove());
  const target = layerIndex === 1 ? [$("subject")] : [...document.querySelectorAll(`.card[data-layer="${layerIndex - 1}"] .activations canvas`)];
  const previous = layerIndex === 1 ? lab.layers.input : lab.layers.cards[layerIndex - 2].activation;
  const step = previous.full.length === 3 ? previous.full[1] / previous.shape[1] : 1;
  for (const canvas of target) {
    if (slices && !slices(+canvas.dataset.slice || 0)) continue;
    const ring = element("div", "ring"), bounds = canvas.getBoundingClientRect(), pixel = bounds.width / canvas.width / step;
    const inside = (v, size) => Math.max(0, Math.min(size, v));
    const size = canvas.width * step;
    const top = inside(rows[0], size) * pixel, bottom = inside(rows[rows.length - 1] + 1, size) * pixel;
    const left = inside(cols[0], size) * pixel, right = inside(cols[cols.length - 1] + 1, size) * pixel;
    Object.assign(ring.style, { position: "absolute", border: "2px solid #f2c200", pointerEvents: "none",
      left: `${bounds.left + window.scrollX + left - 1}px`, top: `${bounds.top + window.scrollY + top - 1}px`,
      width: `${right - left + 2}px`, height: `${bottom - top + 2}px` });
    document.body.append(ring);
  }
}

// whether a receptive field reaches beyond its W×H×D input (written "W×H×D")
function padded(answer, input) {
  const [width, height] = input.split("×").map(Number);
  return answer.rows[0] < 0 || answer.cols[0] < 0 || answer.rows.at(-1) >= height || answer.cols.at(-1) >= width;
}

function drillPanel() {
  $("drill").hidden = false;
  return $("drill-body");
}
$("drill-close").onclick = () => { $("drill").hidden = true; document.querySelectorAll(".ring").forEach((ring) => ring.remove()); };

const neuron = showing("look-error", async (layer, d, row, col) => {
  const answer = await send("probe", { kind: "neuron", layer, d, row, col });
  lab.probe = answer;
  const body = drillPanel();
  body.replaceChildren();
  if (answer.kind === "Conv2D") {
    const depth = answer.x.length, shown = Math.min(depth, 3), terms = [];
    body.append(element("p", "", `Layer ${layer} (Conv2D), filter ${d}, output row ${row}, column ${col}: the filter's ` +
      `dot product with its receptive field — input rows ${answer.rows[0]}…${answer.rows.at(-1)}, columns ${answer.cols[0]}…${answer.cols.at(-1)}` +
      `${padded(answer, lab.layers.cards[layer - 1].input) ? " (outside the input: zero padding)" : ""}, ${depth === 1 ? `depth ${answer.depth}` : `depths ${answer.depth}…${answer.depth + depth - 1}`} — plus the bias.`));
    const formula = element("div", "formula");
    for (let s = 0; s < shown; s++) {
      const signed = (v) => (v < 0 ? `(${fmt(v)})` : fmt(v));
      const products = answer.x[s].flatMap((line, i) => line.map((x, j) => `${signed(x)}×${signed(answer.w[s][i][j])}`));
      const sliceSum = answer.products[s].flat().reduce((a, b) => a + b, 0);
      formula.append(element("div", "", `depth ${answer.depth + s}: ${products.join(" + ")} = ${fmt(sliceSum, 4)}`));
      terms.push(fmt(sliceSum, 4));
    }
    if (depth > shown) {
      const rest = answer.products.slice(shown).flat(2).reduce((a, b) => a + b, 0);
      formula.append(element("div", "", `depths ${answer.depth + shown}…${answer.depth + depth - 1}: ${fmt(rest, 4)} (their ${(depth - shown) * answer.x[0].flat().length} products, summed)`));
      terms.push(fmt(rest, 4));
    }
    const total = element("div", "total", `Σ = ${terms.join(" + ")} + bias ${fmt(answer.b, 4)} = ${fmt(answer.sum, 6)}`);
    total.id = "probe-sum";
    total.dataset.sum = answer.sum;
    formula.append(total, element("div", "", `the layer's output there: ${fmt(answer.output, 6)}`));
    body.append(formula);
    highlight(layer, answer.rows, answer.cols, (s) => s >= answer.depth && s < answer.depth + depth);
  } else {
    const table = element("div", "formula");
    body.append(element("p", "", `Layer ${layer} (MaxPool2D), depth slice ${d}, output row ${row}, column ${col}: the largest ` +
      `number of its window — input rows ${answer.rows[0]}…${answer.rows.at(-1)}, columns ${answer.cols[0]}…${answer.cols.at(-1)}. ` +
      `The winner is at row ${answer.winner[0]}, column ${answer.winner[1]}; only it gets the gradient back.`));
    answer.x.forEach((line, i) => table.append(element("div", "", line.map((v, j) =>
      (answer.rows[i] === answer.winner[0] && answer.cols[j] === answer.winner[1] ? `[${fmt(v)}]` : v === null ? "pad" : fmt(v))).join("  "))));
    const total = element("div", "total", `max = ${fmt(answer.max, 6)}`);
    total.id = "probe-sum";
    total.dataset.sum = answer.max;
    table.append(total);
    body.append(table);
    highlight(layer, answer.rows, answer.cols, (s) => s === d);
  }
});

// the input looked at, in grey (or its colours), with a map of the same H×W laid over it: the
// brighter the map there, the more of the heat colour (yellow for little, red for the most)
function overlaid(input, map, { scale = 5 } = {}) {
  const [height, width] = map.shape, area = height * width, rgb = input.shape[0] === 3;
  const image = bytesOf(input), heat = bytesOf(map), canvas = document.createElement("canvas");
  canvas.width = width; canvas.height = height;
  canvas.className = "map overlay";
  canvas.style.width = `${width * scale}px`; canvas.style.height = `${height * scale}px`;
  const context = canvas.getContext("2d"), pixels = context.createImageData(width, height);
  for (let i = 0; i < area; i++) {
    const base = rgb ? [image[i], image[area + i], image[2 * area + i]] : [image[i], image[i], image[i]];
    const t = heat[i] / 255, alpha = 0.75 * t, hot = [255, Math.round(230 * (1 - t)), 0];
    pixels.data.set([...base.map((v, c) => Math.round((1 - alpha) * v + alpha * hot[c])), 255], 4 * i);
  }
  context.putImageData(pixels, 0, 0);
  return canvas;
}

function figure(caption, ...content) {
  const box = element("figure", "overlay-figure");
  box.append(...content, element("figcaption", "", caption));
  return box;
}

// a class bar clicked: its saliency and Grad-CAM maps for the input looked at, over it and alone
const saliency = showing("look-error", async (k) => {
  const answer = await send("probe", { kind: "saliency", class: k });
  const cam = await send("probe", { kind: "grad-cam", class: k }).catch((error) => ({ error: error.message }));
  const input = lab.layers.input, body = drillPanel();
  document.querySelectorAll(".ring").forEach((ring) => ring.remove());
  const [map] = canvases(answer.map, { scale: 4 });
  map.id = "saliency";
  const saliencyOver = overlaid(input, answer.map);
  saliencyOver.id = "saliency-overlay";
  const shown = [figure("saliency over the input", saliencyOver), figure("saliency alone", map)];
  let camText = `Grad-CAM: ${cam.error}`;
  if (!cam.error) {
    const camOver = overlaid(input, cam.map), [coarse] = canvases(cam.coarse, { scale: 4 * answer.map.shape[0] / cam.coarse.shape[0] });
    camOver.id = "grad-cam-overlay";
    coarse.id = "grad-cam";
    shown.push(figure(`Grad-CAM over the input`, camOver), figure(`Grad-CAM at layer ${cam.layer}, ${cam.coarse.shape[1]}×${cam.coarse.shape[0]}`, coarse));
    camText = `Grad-CAM at layer ${cam.layer} (${cam.description}): ReLU(Σ_k α_k A_k), each activation map A_k weighted ` +
      `by α_k, the mean of ∂ score / ∂ A_k — where in the image the layer finds what raises the score.`;
  }
  const row = element("div", "overlays");
  row.append(...shown);
  body.replaceChildren(element("h3", "", `Class “${answer.name}”`),
    element("p", "", `Saliency of class “${answer.name}”: |∂ score / ∂ pixel| (the largest over the colour ` +
      `channels) — the brighter, the more a small change of that pixel moves the score.`),
    element("p", "", camText), row);
});

// ---- predictions and the confusion matrix -----------------------------------------------------
function showPredictions(message) {
  for (const item of message.items.slice().reverse()) {
    const box = element("div", "item"), [image] = canvases(item.image, { rgb: item.image.shape[0] === 3, scale: 2 });
    box.append(image, bars(item.top, item.label));
    box.title = `test image ${item.index}, true class: ${lab.state ? lab.state.classes[item.label] : item.label}`;
    $("feed").prepend(box);
  }
  while ($("feed").children.length > 40) $("feed").lastChild.remove();
  $("test-accuracy").textContent = `(accuracy on the last ${message.counted}: ${(100 * message.accuracy).toFixed(1)}%)`;
  const classes = lab.state ? lab.state.classes : message.confusion.map((_, k) => k), table = $("confusion");
  const most = Math.max(1, ...message.confusion.flat());
  const head = element("tr");
  head.append(element("th"), ...classes.map((name) => element("th", "colname", name)));
  const rows = message.confusion.map((line, i) => {
    const row = element("tr");
    row.append(element("th", "rowname", classes[i]), ...line.map((count, j) => {
      const cell = element("td", "", count || "");
      const strength = count / most;
      cell.style.background = i === j ? `rgba(46,157,87,${0.15 + 0.85 * strength})` : count ? `rgba(208,69,59,${0.15 + 0.85 * strength})` : "#f6f7f9";
      cell.style.color = strength > 0.6 ? "#fff" : "#1d2330";
      return cell;
    }));
    return row;
  });
  table.replaceChildren(head, ...rows);
}

// updates per second over the last 5 s: what the stream delivers to this tab
setInterval(() => {
  const now = performance.now();
  lab.received = lab.received.filter((t) => now - t < 5000);
  $("rate").textContent = (lab.received.length / 5).toFixed(1);
}, 1000);

drawCurves();
connect();
