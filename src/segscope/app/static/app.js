// segscope app: plain JavaScript, no build step, no external resources.
// Views (hash routes): #/ datasets, #/d/NAME?filters grid, #/d/NAME/s/ID sample, #/d/NAME/e/KEY evaluation,
// #/d/NAME/c/KEY curation run (embeddings map with box or lasso selection, or label-error ranking).
"use strict";

const $ = (sel, root = document) => root.querySelector(sel);
const $$ = (sel, root = document) => Array.from(root.querySelectorAll(sel));
const enc = encodeURIComponent;
const main = () => $("#main");
const infoCache = {};

function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "style" && typeof v === "object") Object.assign(el.style, v);
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) if (c !== null && c !== undefined && c !== false) el.append(c.nodeType ? c : String(c));
  return el;
}

async function api(path, opts = {}) {
  const res = await fetch(path, opts);
  if (!res.ok) {
    let msg = res.statusText;
    try { msg = (await res.json()).detail || msg; } catch (e) { /* not JSON */ }
    throw new Error(msg);
  }
  return res.json();
}

function status(msg) { $("#status").textContent = msg || ""; }
function fmt(v) {
  if (v === null || v === undefined) return "–";
  if (typeof v === "number") return Number.isInteger(v) ? v.toLocaleString() : v.toFixed(4);
  return String(v);
}
function rgb(c) { return `rgb(${c[0]},${c[1]},${c[2]})`; }
function swatch(c) { return h("span", { class: "swatch", style: { background: rgb(c) } }); }

async function datasetInfo(name, fresh = false) {
  if (fresh || !infoCache[name]) infoCache[name] = await api(`/api/datasets/${enc(name)}`);
  return infoCache[name];
}

function parseHash() {
  const raw = location.hash.replace(/^#/, "") || "/";
  const [path, query] = raw.split("?");
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  return { parts, params: new URLSearchParams(query || "") };
}

function crumbs(...items) {
  const nav = $("#crumbs");
  nav.replaceChildren(...items.map(([label, href]) => h("a", { href }, label)));
}

// ---------------------------------------------------------------- datasets list
async function viewDatasets() {
  const data = await api("/api/datasets");
  if (data.default && !location.hash.startsWith("#/list")) {
    location.replace(`#/d/${enc(data.default)}`);
    return;
  }
  crumbs();
  const rows = data.datasets.map((d) =>
    h("tr", {}, h("td", { class: "l" }, h("a", { href: `#/d/${enc(d.name)}` }, d.name)),
      h("td", {}, fmt(d.num_samples)), h("td", { class: "l" }, d.task), h("td", {}, d.num_runs),
      h("td", { class: "l" }, d.root || "")));
  main().replaceChildren(
    h("h2", {}, "Datasets"),
    rows.length ? h("table", {}, h("tr", {}, ...["name", "samples", "task", "runs", "root"].map((t) => h("th", { class: "l" }, t))), rows)
      : h("p", { class: "muted" }, "The workspace is empty: add a dataset with ", h("code", {}, "segscope add DATASET --name NAME"), "."));
}

// ---------------------------------------------------------------- grid
const PAGE = 60;

async function viewGrid(name, params) {
  const gen = routeGen;
  const info = await datasetInfo(name, true);
  if (gen !== routeGen) return;  // a newer route started while this one waited
  crumbs([name, `#/d/${enc(name)}`]);
  const predRuns = info.runs.filter((r) => r.type === "prediction");
  const evals = info.runs.filter((r) => r.type === "evaluation");
  const overlay = params.get("overlay") || "gt";
  const sel = (id, options, value) => h("select", { id }, ...options.map(([v, label]) => h("option", { value: v, selected: v === value }, label)));
  const chosenClasses = (params.get("classes") || "").split(",").filter(Boolean);
  const chosenTags = (params.get("tags") || "").split(",").filter(Boolean);
  const [rMetric, rLo, rHi] = (() => {
    const r = params.get("range");
    if (!r) return ["", "", ""];
    const p = r.split(":");
    return [p.slice(0, -2).join(":"), p[p.length - 2], p[p.length - 1]];
  })();
  const valueOpts = info.value_names.map((v) => [v, v]);
  const box = parseBox(params.get("box"));
  const lasso = box ? null : parseLasso(params.get("lasso"));
  const clearSelection = () => {
    const p = new URLSearchParams(params);
    for (const k of ["box", "lasso", "offset"]) p.delete(k);
    location.hash = `#/d/${enc(name)}?${p}`;
  };
  const curations = info.runs.filter((r) => r.type === "curation" && ["embeddings", "label-errors"].includes(r.config.kind));

  const side = h("aside", {},
    box ? h("div", { id: "box-filter", class: "box-filter" }, h("b", {}, "Embedding selection"), ` ${box.key} `,
      h("span", { class: "muted" }, `x ${fmt(box.x0)}…${fmt(box.x1)}, y ${fmt(box.y0)}…${fmt(box.y1)} `),
      h("button", { id: "box-clear", onclick: clearSelection }, "clear"))
      : lasso ? h("div", { id: "lasso-filter", class: "box-filter" }, h("b", {}, "Embedding selection"), ` ${lasso.key} `,
        h("span", { class: "muted" }, `lasso of ${lasso.poly.length} vertices `),
        h("button", { id: "lasso-clear", onclick: clearSelection }, "clear")) : "",
    h("h3", {}, "Overlay"),
    sel("overlay", [["none", "image only"], ["gt", "ground truth"], ...predRuns.map((r) => [r.key, `prediction: ${r.key}`])], overlay),
    h("h3", {}, "Split"),
    sel("split", [["", "all"], ...info.splits.map((s) => [s, s])], params.get("split") || ""),
    h("h3", {}, "Classes present"),
    ...info.classes.map((c) => h("label", {}, h("input", { type: "checkbox", class: "class-filter", value: c.id, checked: chosenClasses.includes(String(c.id)) }), " ", swatch(c.color), c.name)),
    h("h3", {}, "Tags"),
    Object.keys(info.tags).length ? Object.entries(info.tags).map(([t, n]) => h("label", {}, h("input", { type: "checkbox", class: "tag-filter", value: t, checked: chosenTags.includes(t) }), ` ${t} (${n})`))
      : h("p", { class: "muted" }, "no tags yet"),
    h("h3", {}, "Metric range"),
    sel("range-metric", [["", "—"], ...valueOpts], rMetric),
    h("div", { class: "row" }, h("input", { id: "range-min", type: "number", step: "any", placeholder: "min", value: rLo }),
      h("input", { id: "range-max", type: "number", step: "any", placeholder: "max", value: rHi })),
    h("h3", {}, "Sort"),
    sel("sort", [["", "dataset order"], ["id", "sample id"], ...valueOpts], params.get("sort") || ""),
    h("label", {}, h("input", { type: "checkbox", id: "desc", checked: params.get("desc") === "1" }), " descending (unchecked: worst first)"),
    h("p", {}, h("button", { id: "apply", class: "primary", onclick: () => applyFilters(name) }, "Apply"), " ",
      h("button", { onclick: () => { location.hash = `#/d/${enc(name)}`; } }, "Reset")),
    curations.length ? [h("h3", {}, "Curation"), ...curations.map((c) => h("div", {}, h("a", { href: `#/d/${enc(name)}/c/${enc(c.key)}`, "data-curation": c.key }, c.key),
      h("span", { class: "muted" }, c.config.kind === "embeddings" ? " embeddings map" : " label-error ranking")))] : [],
    evals.length ? [h("h3", {}, "Evaluations"), ...evals.map((e) => h("div", {}, h("a", { href: `#/d/${enc(name)}/e/${enc(e.key)}` }, e.key),
      e.summary.metrics && e.summary.metrics.mean_iou !== undefined ? h("span", { class: "muted" }, ` mIoU ${fmt(e.summary.metrics.mean_iou)}`) : ""))] : []);
  $("#overlay", side).addEventListener("change", () => applyFilters(name));

  const offset = parseInt(params.get("offset") || "0", 10);
  const q = new URLSearchParams({ offset, limit: PAGE });
  for (const k of ["split", "classes", "tags", "sort", "range"]) if (params.get(k)) q.set(k, params.get(k));
  if (box) { q.append("range", `${box.key}:x:${box.x0}:${box.x1}`); q.append("range", `${box.key}:y:${box.y0}:${box.y1}`); }
  if (params.get("desc") === "1") q.set("desc", "true");
  const extra = [];
  if (rMetric && params.get("sort") !== rMetric) extra.push(rMetric);
  if (lasso) {
    const [x0, x1, y0, y1] = bounds(lasso.poly);
    q.append("range", `${lasso.key}:x:${x0}:${x1}`); q.append("range", `${lasso.key}:y:${y0}:${y1}`);
    extra.push(`${lasso.key}:x`, `${lasso.key}:y`);
  }
  if (extra.length) q.set("values", extra.join(","));
  const grid = h("div", { id: "grid" });
  const content = h("div", { class: "content" }, h("div", { class: "toolbar" }, h("span", { id: "count" }, "…")), grid);
  main().replaceChildren(h("div", { class: "layout" }, side, content));

  const page = lasso ? await lassoPage(name, q, lasso, offset) : await api(`/api/datasets/${enc(name)}/samples?${q}`);
  if (gen !== routeGen) return;
  const shownValue = params.get("sort") && params.get("sort") !== "id" ? params.get("sort") : rMetric;
  const to = Math.min(offset + page.rows.length, page.total);
  const go = (off) => { const p = new URLSearchParams(params); p.set("offset", off); location.hash = `#/d/${enc(name)}?${p}`; };
  $(".toolbar", content).replaceChildren(
    h("span", { id: "count" }, page.total ? `${offset + 1}–${to} of ${page.total.toLocaleString()} samples` : "no samples match"),
    h("button", { id: "prev", disabled: offset <= 0, onclick: () => go(Math.max(0, offset - PAGE)) }, "‹ prev"),
    h("button", { id: "next", disabled: to >= page.total, onclick: () => go(offset + PAGE) }, "next ›"));
  const cls = Object.fromEntries(info.classes.map((c) => [c.id, c]));
  grid.replaceChildren(...page.rows.map((r) => h("a", { class: "card", "data-id": r.sample_id, href: `#/d/${enc(name)}/s/${enc(r.sample_id)}` },
    h("img", { loading: "lazy", alt: r.sample_id, src: `/api/datasets/${enc(name)}/samples/${enc(r.sample_id)}/thumb.png?layer=${enc(overlay)}&size=192` }),
    h("div", { class: "meta" },
      h("div", { class: "id", title: r.sample_id }, r.sample_id),
      h("div", { class: "muted" }, r.split || "", " ", r.classes.filter((c) => c !== 0 && cls[c]).map((c) => swatch(cls[c].color))),
      shownValue && r.values[shownValue] !== undefined ? h("div", { class: "value" }, `${shownValue.split(":").pop()} ${fmt(r.values[shownValue])}`) : "",
      h("div", {}, r.tags.map((t) => h("span", { class: "tag" }, t)))))));
}

// A box selection on an embeddings map is two value ranges, KEY:x and KEY:y, so the grid gets
// exactly the samples inside the rectangle from the catalog's own range filter.
function parseBox(text) {
  if (!text) return null;
  const p = text.split(":");
  if (p.length < 5) return null;
  const [x0, x1, y0, y1] = p.slice(-4).map(Number);
  return { key: p.slice(0, -4).join(":"), x0, x1, y0, y1 };
}

// A lasso is a polygon in the map's data coordinates, KEY:x,y;x,y;... The catalog filters by
// ranges only, so the server narrows the grid to the polygon's bounding box and the browser
// keeps the rows inside the polygon (the same test the map used) and pages them itself.
function parseLasso(text) {
  if (!text) return null;
  const cut = text.lastIndexOf(":");
  if (cut < 1) return null;
  const poly = text.slice(cut + 1).split(";").map((v) => v.split(",").map(Number));
  if (poly.length < 3 || poly.some((v) => v.length !== 2 || !v.every(Number.isFinite))) return null;
  return { key: text.slice(0, cut), poly };
}

function bounds(poly) {
  const xs = poly.map((v) => v[0]), ys = poly.map((v) => v[1]);
  return [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
}

// Even-odd ray casting: is (x, y) inside the polygon [[x, y], ...]? Written here: the page loads
// no external library, and this is a dozen lines.
function insidePolygon(x, y, poly) {
  if (typeof x !== "number" || typeof y !== "number") return false;
  let inside = false;
  for (let i = 0, j = poly.length - 1; i < poly.length; j = i++) {
    const [xi, yi] = poly[i], [xj, yj] = poly[j];
    if ((yi > y) !== (yj > y) && x < ((xj - xi) * (y - yi)) / (yj - yi) + xi) inside = !inside;
  }
  return inside;
}

async function lassoPage(name, q, lasso, offset) {
  const rows = [];
  for (let off = 0, total = 1; off < total;) {
    const qq = new URLSearchParams(q);
    qq.set("offset", off); qq.set("limit", 500);
    const pg = await api(`/api/datasets/${enc(name)}/samples?${qq}`);
    rows.push(...pg.rows);
    total = pg.total; off += pg.rows.length;
    if (!pg.rows.length) break;
  }
  const kx = `${lasso.key}:x`, ky = `${lasso.key}:y`;
  const inside = rows.filter((r) => insidePolygon(r.values[kx], r.values[ky], lasso.poly));
  return { rows: inside.slice(offset, offset + PAGE), total: inside.length };
}

function applyFilters(name) {
  const p = new URLSearchParams();
  const set = (k, v) => { if (v) p.set(k, v); };
  set("overlay", $("#overlay").value);
  set("split", $("#split").value);
  set("classes", $$(".class-filter:checked").map((c) => c.value).join(","));
  set("tags", $$(".tag-filter:checked").map((c) => c.value).join(","));
  const m = $("#range-metric").value, lo = $("#range-min").value, hi = $("#range-max").value;
  if (m && (lo !== "" || hi !== "")) p.set("range", `${m}:${lo}:${hi}`);
  set("sort", $("#sort").value);
  if ($("#desc").checked) p.set("desc", "1");
  for (const k of ["box", "lasso"]) {  // the embedding selection stays until cleared
    const v = parseHash().params.get(k);
    if (v) p.set(k, v);
  }
  location.hash = `#/d/${enc(name)}?${p}`;
}

// ---------------------------------------------------------------- sample
function attachZoom(viewer, stage, width, height) {
  let scale = 1, tx = 0, ty = 0, drag = null;
  const apply = () => { stage.style.transform = `translate(${tx}px,${ty}px) scale(${scale})`; };
  const fit = () => {
    const r = viewer.getBoundingClientRect();
    scale = Math.min(r.width / width, r.height / height) || 1;
    tx = (r.width - width * scale) / 2; ty = (r.height - height * scale) / 2; apply();
  };
  viewer.addEventListener("wheel", (e) => {
    e.preventDefault();
    const r = viewer.getBoundingClientRect();
    const x = e.clientX - r.left, y = e.clientY - r.top;
    const f = Math.exp(-e.deltaY * 0.0015);
    const ns = Math.min(64, Math.max(0.02, scale * f));
    tx = x - (x - tx) * (ns / scale); ty = y - (y - ty) * (ns / scale); scale = ns; apply();
  }, { passive: false });
  viewer.addEventListener("mousedown", (e) => { drag = [e.clientX - tx, e.clientY - ty]; viewer.classList.add("dragging"); });
  window.addEventListener("mouseup", () => { drag = null; viewer.classList.remove("dragging"); });
  window.addEventListener("mousemove", (e) => { if (drag) { tx = e.clientX - drag[0]; ty = e.clientY - drag[1]; apply(); } });
  viewer.addEventListener("dblclick", fit);
  return fit;
}

async function viewSample(name, sid, params) {
  const [info, s] = await Promise.all([datasetInfo(name), api(`/api/datasets/${enc(name)}/samples/${enc(sid)}`)]);
  crumbs([name, `#/d/${enc(name)}`], [sid, location.hash]);
  const base = `/api/datasets/${enc(name)}/samples/${enc(sid)}`;
  const W = s.width || 512, H = s.height || 512;
  const stage = h("div", { class: "stage", style: { width: `${W}px`, height: `${H}px` } });
  const viewer = h("div", { class: "viewer", id: "viewer" }, stage);
  const imgOpts = () => {
    const q = new URLSearchParams();
    const ch = $("#channels") ? $("#channels").value.trim() : "";
    const cm = $("#cmap") ? $("#cmap").value : "";
    if (ch) q.set("channels", ch);
    if (cm) q.set("cmap", cm);
    return q.toString();
  };
  const baseImg = h("img", { id: "base-image", src: `${base}/image.png`, width: W, height: H, alt: sid, draggable: "false" });
  stage.append(baseImg);

  const preds = Object.entries(s.runs).filter(([, r]) => r.type === "prediction").map(([k]) => k);
  const layers = [];
  if (s.gt_kind) layers.push({ id: "gt", label: "ground truth", src: () => `${base}/layers/gt.png` });
  for (const k of preds) {
    layers.push({ id: `pred-${k}`, label: `prediction ${k}`, src: () => `${base}/layers/pred.png?run=${enc(k)}` });
    if (s.gt_kind) {
      layers.push({ id: `error-${k}`, label: `error map ${k} (TP/FP/FN)`, src: () => `${base}/layers/error.png?run=${enc(k)}` });
      layers.push({ id: `confusion-${k}`, label: `confusion ${k} (truth a → pred b)`, src: () => {
        const q = new URLSearchParams({ run: k });
        if ($("#conf-a").value !== "") q.set("a", $("#conf-a").value);
        if ($("#conf-b").value !== "") q.set("b", $("#conf-b").value);
        return `${base}/layers/confusion.png?${q}`;
      } });
    }
  }
  for (const r of info.runs.filter((r) => r.type === "curation" && r.config.kind === "label-errors")) {
    if (s.values[`${r.key}:label_error_score`] === undefined) continue;
    layers.push({ id: `label-errors-${r.key}`, label: `label-error heatmap ${r.key}`, src: () => `${base}/label-heatmap.png?run=${enc(r.key)}` });
  }
  const want = params.get("layer") || (s.gt_kind ? "gt" : "");
  const layerImgs = {};
  const opacity = () => parseFloat($("#opacity").value);
  function toggle(layer, on) {
    if (on && !layerImgs[layer.id]) {
      layerImgs[layer.id] = h("img", { class: "layer", "data-layer": layer.id, src: layer.src(), width: W, height: H, draggable: "false", style: { width: `${W}px`, height: `${H}px`, opacity: opacity() } });
      stage.append(layerImgs[layer.id]);
    } else if (!on && layerImgs[layer.id]) {
      layerImgs[layer.id].remove(); delete layerImgs[layer.id];
    }
  }
  const classOpts = (id, label, value) => h("label", {}, label, h("select", { id }, h("option", { value: "" }, "any"),
    ...info.classes.map((c) => h("option", { value: c.id, selected: String(c.id) === value }, `${c.id} ${c.name}`))));
  const refreshConfusion = () => {
    for (const l of layers) if (l.id.startsWith("confusion-") && layerImgs[l.id]) layerImgs[l.id].src = l.src();
  };
  const tagsBox = h("div", { id: "tags" });
  const renderTags = (tags) => tagsBox.replaceChildren(...tags.map((t) => h("span", { class: "tag" }, t,
    h("button", { title: "remove", onclick: async () => { const r = await api(`${base}/tags/${enc(t)}`, { method: "DELETE" }); renderTags(r.tags); } }, "×"))));
  renderTags(s.tags);
  const addTag = async () => {
    const v = $("#tag-input").value.trim();
    if (!v) return;
    const r = await api(`${base}/tags`, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ tags: [v] }) });
    $("#tag-input").value = ""; renderTags(r.tags); status(`tagged ${sid}: ${v}`);
  };
  const values = Object.entries(s.values).filter(([k]) => !k.includes("/") || k.split(":")[1].startsWith("iou/"));
  const single = (s.channels || 1) !== 3 && (s.channels || 1) !== 4;

  const panel = h("div", { class: "panel" },
    h("div", {}, h("b", {}, sid), " ", h("span", { class: "muted" }, `${W}×${H}`, s.channels ? ` · ${s.channels} ch ${s.dtype || ""}` : "", s.split ? ` · ${s.split}` : "")),
    h("h3", {}, "Layers"),
    ...layers.map((l) => h("label", {}, h("input", { type: "checkbox", id: `layer-${l.id}`, "data-layer": l.id, checked: l.id === want, onchange: (e) => toggle(l, e.target.checked) }), " ", l.label)),
    layers.some((l) => l.id.startsWith("confusion-")) ? h("div", { class: "row" }, classOpts("conf-a", "truth a ", params.get("a") || ""), classOpts("conf-b", "pred b ", params.get("b") || "")) : "",
    h("label", {}, "opacity ", h("input", { type: "range", id: "opacity", min: 0, max: 1, step: 0.05, value: 0.6,
      oninput: () => Object.values(layerImgs).forEach((im) => { im.style.opacity = opacity(); }) })),
    h("h3", {}, "Image"),
    h("div", { class: "row" },
      h("label", {}, "channels ", h("input", { type: "text", id: "channels", placeholder: single ? "0" : "0,1,2" })),
      h("label", {}, "colour map ", h("select", { id: "cmap" }, h("option", { value: "" }, "default"), ...info.colormaps.map((c) => h("option", { value: c }, c))))),
    h("button", { id: "image-apply", onclick: () => { const q = imgOpts(); baseImg.src = `${base}/image.png${q ? `?${q}` : ""}`; } }, "Apply"),
    h("span", { class: "muted" }, " · wheel: zoom · drag: pan · double-click: fit"),
    h("h3", {}, "Legend"),
    h("div", { id: "legend" }, ...info.classes.map((c) => h("div", {}, swatch(c.color), `${c.id} ${c.name}`)),
      h("div", { class: "muted" }, "error map: ", ...[["tp", "TP"], ["fp", "FP"], ["fn", "FN"], ["wrong_class", "wrong class"], ["ignore", "ignore"]]
        .map(([k, l]) => h("span", {}, swatch(info.error_colors[k]), l, " "))),
      h("div", { class: "muted" }, "confusion a→b: ", swatch(info.confusion_color), "(any class: colour of the predicted class)")),
    h("h3", {}, "Metrics"),
    values.length ? h("table", { id: "metrics" }, ...values.map(([k, v]) => h("tr", {}, h("td", { class: "l" }, k), h("td", {}, fmt(v)))))
      : h("p", { class: "muted" }, "no evaluation attached"),
    h("h3", {}, "Tags"), tagsBox,
    h("div", { class: "row" }, h("input", { type: "text", id: "tag-input", placeholder: "new tag", onkeydown: (e) => { if (e.key === "Enter") addTag(); } }),
      h("button", { id: "tag-add", onclick: addTag }, "Add")),
    h("h3", {}, "Note"),
    h("textarea", { id: "note" }, s.note || ""),
    h("button", { id: "note-save", onclick: async () => {
      await api(`${base}/note`, { method: "PUT", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ note: $("#note").value }) });
      status("note saved");
    } }, "Save note"));
  main().replaceChildren(h("div", { class: "layout" }, h("div", { class: "content" }, viewer), panel));
  for (const id of ["conf-a", "conf-b"]) if ($(`#${id}`)) $(`#${id}`).addEventListener("change", refreshConfusion);
  for (const l of layers) if (l.id === want) toggle(l, true);
  const fit = attachZoom(viewer, stage, W, H);
  fit();
}

// ---------------------------------------------------------------- evaluation
function bars(rows, colors, key, other) {
  return h("div", { class: "bars", id: "iou-bars" }, ...rows.map((r, i) => {
    const v = r[key];
    const o = other ? other[i] && other[i][key] : undefined;
    return h("div", { class: "bar" }, h("span", { class: "n", title: r.name }, r.name),
      h("div", { class: "track" },
        h("div", { class: "fill", style: { width: `${Math.max(0, (v || 0) * 100)}%`, background: rgb(colors[i] || [80, 80, 80]), bottom: o !== undefined ? "50%" : "0" } }),
        o !== undefined ? h("div", { class: "fill b", style: { width: `${Math.max(0, (o || 0) * 100)}%`, background: "#333" } }) : ""),
      h("span", {}, fmt(v), o !== undefined ? ` / ${fmt(o)}` : ""));
  }));
}

async function viewEvaluation(name, key, params) {
  const [info, ev] = await Promise.all([datasetInfo(name), api(`/api/datasets/${enc(name)}/evaluations/${enc(key)}`)]);
  crumbs([name, `#/d/${enc(name)}`], [`evaluation ${key}`, `#/d/${enc(name)}/e/${enc(key)}`]);
  const cm = ev.confusion_matrix;
  const max = Math.max(1, ...cm.map((row) => Math.max(...row.map((v, j) => v))));
  const list = h("div", { id: "confusion-samples" }, h("p", { class: "muted" }, ev.has_confusions ? "click a cell to list the samples with that confusion" :
    "attach the evaluation with its prediction run (--run KEY) to list samples per confusion"));
  const showCell = async (a, b) => {
    const r = await api(`/api/datasets/${enc(name)}/evaluations/${enc(key)}/confusion?gt=${a}&pred=${b}`);
    const layer = ev.pred_run ? `&layer=${enc(`confusion-${ev.pred_run}`)}&a=${a}&b=${b}` : "";
    list.replaceChildren(h("h4", {}, `truth ${ev.classes[a]} → predicted ${ev.classes[b]}: ${r.samples.length} samples`),
      r.samples.length ? h("table", {}, h("tr", {}, h("th", { class: "l" }, "sample"), h("th", {}, "pixels")),
        ...r.samples.map((s) => h("tr", {}, h("td", { class: "l" }, h("a", { href: `#/d/${enc(name)}/s/${enc(s.sample_id)}?${layer.slice(1)}` }, s.sample_id)), h("td", {}, fmt(s.pixels)))))
        : h("p", { class: "muted" }, "none"));
  };
  const matrix = h("table", { class: "cm", id: "confusion-matrix" },
    h("tr", {}, h("th", { class: "l" }, "truth ↓ / pred →"), ...ev.classes.map((c) => h("th", {}, c))),
    ...cm.map((row, i) => h("tr", {}, h("th", { class: "l" }, ev.classes[i]), ...row.map((v, j) => {
      const t = Math.sqrt(v / max);
      return h("td", { class: "cell", "data-gt": i, "data-pred": j, title: `truth ${ev.classes[i]}, predicted ${ev.classes[j]}`,
        style: { background: i === j ? `rgba(40,160,60,${t})` : `rgba(220,50,50,${t})` }, onclick: () => showCell(i, j) }, fmt(v));
    }))));
  const others = info.runs.filter((r) => r.type === "evaluation" && r.key !== key);
  const cmpKey = params.get("cmp") || "";
  const compareBox = h("div", { id: "compare" });
  const metricRows = Object.entries(ev.metrics).filter(([, v]) => typeof v === "number" || v === null);
  main().replaceChildren(
    h("h2", {}, `Evaluation ${key}`, ev.pred_run ? h("span", { class: "muted" }, ` of prediction run ${ev.pred_run}`) : ""),
    h("div", { class: "cols" },
      h("div", { class: "box" }, h("h3", {}, "Metrics"), h("table", {}, ...metricRows.map(([k, v]) => h("tr", {}, h("td", { class: "l" }, k), h("td", {}, fmt(v)))))),
      h("div", { class: "box" }, h("h3", {}, "Confusion matrix (pixels)"), matrix, list),
      h("div", { class: "box", style: { minWidth: "360px" } }, h("h3", {}, "Per-class IoU"), bars(ev.per_class, ev.colors, "iou"))),
    h("div", { class: "box", style: { marginTop: "1em" } },
      h("h3", {}, "Compare with"),
      others.length ? h("select", { id: "compare-with", onchange: (e) => { location.hash = `#/d/${enc(name)}/e/${enc(key)}?cmp=${enc(e.target.value)}`; } },
        h("option", { value: "" }, "—"), ...others.map((o) => h("option", { value: o.key, selected: o.key === cmpKey }, o.key))) : h("p", { class: "muted" }, "no other evaluation in this dataset"),
      compareBox));
  if (cmpKey) {
    const [other, worse, better] = await Promise.all([
      api(`/api/datasets/${enc(name)}/evaluations/${enc(cmpKey)}`),
      api(`/api/datasets/${enc(name)}/compare?a=${enc(key)}&b=${enc(cmpKey)}&metric=iou&limit=50`),
      api(`/api/datasets/${enc(name)}/compare?a=${enc(cmpKey)}&b=${enc(key)}&metric=iou&limit=50`)]);
    const table = (rows, la, lb) => h("table", {}, h("tr", {}, h("th", { class: "l" }, "sample"), h("th", {}, la), h("th", {}, lb), h("th", {}, "diff")),
      ...rows.map((r) => h("tr", {}, h("td", { class: "l" }, h("a", { href: `#/d/${enc(name)}/s/${enc(r.sample_id)}` }, r.sample_id)), h("td", {}, fmt(r.a)), h("td", {}, fmt(r.b)), h("td", {}, fmt(r.diff)))));
    compareBox.replaceChildren(
      h("div", { class: "cols" },
        h("div", {}, h("h4", {}, `Per-class IoU: ${key} (colour) / ${cmpKey} (dark)`), bars(ev.per_class, ev.colors, "iou", other.per_class)),
        h("div", { id: "compare-worse" }, h("h4", {}, `Samples where ${cmpKey} is worse than ${key}`), table(worse.rows.filter((r) => r.diff < 0), key, cmpKey)),
        h("div", {}, h("h4", {}, `Samples where ${key} is worse than ${cmpKey}`), table(better.rows.filter((r) => r.diff < 0), cmpKey, key))));
  }
}

// ---------------------------------------------------------------- curation
const VIRIDIS = [[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]];
function ramp(t) {
  const x = Math.min(1, Math.max(0, t)) * (VIRIDIS.length - 1), i = Math.min(VIRIDIS.length - 2, Math.floor(x)), f = x - i;
  return VIRIDIS[i].map((v, k) => Math.round(v + f * (VIRIDIS[i + 1][k] - v)));
}
const PALETTE = [[31, 119, 180], [255, 127, 14], [44, 160, 44], [214, 39, 40], [148, 103, 189], [140, 86, 75], [227, 119, 194], [127, 127, 127]];

async function viewCuration(name, key, params) {
  const info = await datasetInfo(name, true);
  const run = info.runs.find((r) => r.key === key);
  if (!run || run.type !== "curation") throw new Error(`dataset '${name}' has no curation run '${key}'`);
  crumbs([name, `#/d/${enc(name)}`], [`curation ${key}`, `#/d/${enc(name)}/c/${enc(key)}`]);
  if (run.config.kind === "embeddings") return viewEmbedding(name, key, params, info);
  if (run.config.kind === "label-errors") return viewLabelErrors(name, key, info);
  main().replaceChildren(h("p", { class: "muted" }, `curation run '${key}' (${run.config.kind}): its values are in the grid's sort and range menus`));
}

let selectMode = "box";  // the embeddings map's selection tool: "box" or "lasso", kept across views

async function viewEmbedding(name, key, params, info) {
  const by = params.get("color") || "split";
  const value = by.startsWith("value:") ? by.slice(6) : "";
  const emb = await api(`/api/datasets/${enc(name)}/curation/${enc(key)}/embedding${value ? `?value=${enc(value)}` : ""}`);
  const n = emb.ids.length;
  const SZ = 620, PAD = 24;
  const [xmin, xmax] = [Math.min(...emb.x), Math.max(...emb.x)], [ymin, ymax] = [Math.min(...emb.y), Math.max(...emb.y)];
  const sx = (v) => PAD + ((v - xmin) / ((xmax - xmin) || 1)) * (SZ - 2 * PAD);
  const sy = (v) => SZ - PAD - ((v - ymin) / ((ymax - ymin) || 1)) * (SZ - 2 * PAD);
  const ux = (px) => xmin + ((px - PAD) / (SZ - 2 * PAD)) * ((xmax - xmin) || 1);
  const uy = (py) => ymin + ((SZ - PAD - py) / (SZ - 2 * PAD)) * ((ymax - ymin) || 1);

  // colour of each point and the legend for the chosen colouring
  let colorOf, legend;
  if (by === "split") {
    const splits = [...new Set(emb.split.map((s) => s || "(none)"))];
    colorOf = (i) => PALETTE[splits.indexOf(emb.split[i] || "(none)") % PALETTE.length];
    legend = splits.map((s, k) => [PALETTE[k % PALETTE.length], s]);
  } else if (by.startsWith("class:")) {
    const c = info.classes.find((c) => String(c.id) === by.slice(6));
    colorOf = (i) => (emb.classes[i].includes(c.id) ? c.color : [200, 200, 200]);
    legend = [[c.color, `${c.name} present`], [[200, 200, 200], "absent"]];
  } else if (by.startsWith("tag:")) {
    const t = by.slice(4);
    colorOf = (i) => (emb.tags[i].includes(t) ? [214, 39, 40] : [200, 200, 200]);
    legend = [[[214, 39, 40], `tagged ${t}`], [[200, 200, 200], "not tagged"]];
  } else {
    const vs = emb.value.filter((v) => v !== null);
    const [lo, hi] = [Math.min(...vs), Math.max(...vs)];
    colorOf = (i) => (emb.value[i] === null ? [200, 200, 200] : ramp((emb.value[i] - lo) / ((hi - lo) || 1)));
    legend = [[ramp(0), `${fmt(lo)} (low)`], [ramp(1), `${fmt(hi)} (high)`], [[200, 200, 200], "no value"]];
  }
  const NS = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(NS, "svg");
  svg.setAttribute("id", "scatter");
  svg.setAttribute("width", SZ); svg.setAttribute("height", SZ); svg.setAttribute("viewBox", `0 0 ${SZ} ${SZ}`);
  const dots = emb.ids.map((id, i) => {
    const c = document.createElementNS(NS, "circle");
    c.setAttribute("cx", sx(emb.x[i])); c.setAttribute("cy", sy(emb.y[i])); c.setAttribute("r", n > 2000 ? 2.5 : 5);
    c.setAttribute("fill", rgb(colorOf(i))); c.setAttribute("data-id", id);
    const t = document.createElementNS(NS, "title"); t.textContent = id; c.append(t);
    svg.append(c);
    return c;
  });
  const rect = document.createElementNS(NS, "rect");
  rect.setAttribute("class", "selbox"); rect.setAttribute("visibility", "hidden");
  const lassoShape = document.createElementNS(NS, "polygon");
  lassoShape.setAttribute("class", "lasso"); lassoShape.setAttribute("visibility", "hidden");
  svg.append(rect, lassoShape);

  const hint = () => h("p", { class: "muted" }, selectMode === "lasso" ? "drag a loop around samples to select them"
    : "drag a rectangle to select samples", "; click a point to open it");
  const selInfo = h("div", { id: "selection" }, hint());
  const tools = h("div", { class: "seltools", role: "radiogroup", "aria-label": "selection tool" },
    ...[["box", "box"], ["lasso", "lasso"]].map(([m, label]) => h("label", {},
      h("input", { type: "radio", name: "seltool", id: `sel-${m}`, value: m, checked: selectMode === m,
        onchange: () => { selectMode = m; clear(); } }), ` ${label}`)));
  let start = null, moved = false, path = [];
  const local = (e) => { const r = svg.getBoundingClientRect(); return [(e.clientX - r.left) * (SZ / r.width), (e.clientY - r.top) * (SZ / r.height)]; };
  const drawRect = (a, b) => {
    rect.setAttribute("x", Math.min(a[0], b[0])); rect.setAttribute("y", Math.min(a[1], b[1]));
    rect.setAttribute("width", Math.abs(a[0] - b[0])); rect.setAttribute("height", Math.abs(a[1] - b[1]));
  };
  const drawLasso = (pts) => lassoShape.setAttribute("points", pts.map((q) => q.join(",")).join(" "));
  function clear() {
    start = null; path = [];
    rect.setAttribute("visibility", "hidden"); lassoShape.setAttribute("visibility", "hidden");
    dots.forEach((d) => d.classList.remove("selected"));
    selInfo.replaceChildren(hint());
  }
  const show = (chosen, param) => {
    dots.forEach((d, i) => d.classList.toggle("selected", chosen.includes(emb.ids[i])));
    const q = new URLSearchParams(param);
    selInfo.replaceChildren(h("p", {}, h("b", { id: "selected-count" }, `${chosen.length} selected`), " ",
      h("a", { id: "show-selection", class: "button primary", href: `#/d/${enc(name)}?${q}` }, "show in grid"), " ",
      h("button", { id: "clear-selection", onclick: clear }, "clear")),
      h("div", { class: "muted small" }, chosen.slice(0, 30).join(", "), chosen.length > 30 ? " …" : ""));
  };
  svg.addEventListener("mousedown", (e) => { e.preventDefault(); start = local(e); moved = false; path = [start]; });
  svg.addEventListener("mousemove", (e) => {
    if (!start) return;
    const p = local(e);
    if (!moved && Math.abs(p[0] - start[0]) + Math.abs(p[1] - start[1]) > 3) {
      moved = true;
      (selectMode === "lasso" ? lassoShape : rect).setAttribute("visibility", "visible");
      (selectMode === "lasso" ? rect : lassoShape).setAttribute("visibility", "hidden");
    }
    if (selectMode === "lasso") {
      const last = path[path.length - 1];
      if (Math.hypot(p[0] - last[0], p[1] - last[1]) >= 2) path.push(p);
      if (moved) drawLasso(path);
    } else if (moved) drawRect(start, p);
  });
  svg.addEventListener("mouseup", (e) => {
    if (!start) return;
    const p = local(e), a = start;
    start = null;
    if (!moved) {
      const id = e.target.getAttribute && e.target.getAttribute("data-id");
      if (id) location.hash = `#/d/${enc(name)}/s/${enc(id)}`;
      return;
    }
    if (selectMode === "lasso") {
      path.push(p);
      // at most ~300 vertices, so the polygon fits in the page address; the map shows and
      // selects with exactly the polygon kept
      const step = Math.ceil(path.length / 300);
      const pts = path.filter((q, k) => k % step === 0 || k === path.length - 1);
      drawLasso(pts);
      const poly = pts.map(([px, py]) => [Number(ux(px).toPrecision(8)), Number(uy(py).toPrecision(8))]);
      if (poly.length < 3) { clear(); return; }
      const chosen = emb.ids.filter((id, i) => insidePolygon(emb.x[i], emb.y[i], poly));
      show(chosen, { lasso: `${key}:${poly.map((v) => v.join(",")).join(";")}` });
      return;
    }
    // the box in data coordinates: the same numbers the grid's range filter gets
    const x0 = ux(Math.min(a[0], p[0])), x1 = ux(Math.max(a[0], p[0]));
    const y0 = uy(Math.max(a[1], p[1])), y1 = uy(Math.min(a[1], p[1]));
    const chosen = emb.ids.filter((id, i) => emb.x[i] >= x0 && emb.x[i] <= x1 && emb.y[i] >= y0 && emb.y[i] <= y1);
    show(chosen, { box: `${key}:${x0}:${x1}:${y0}:${y1}` });
  });
  svg.addEventListener("mouseleave", () => { if (start && !moved) start = null; });

  const colorOpts = [["split", "split"], ...info.classes.map((c) => [`class:${c.id}`, `class present: ${c.name}`]),
    ...Object.keys(info.tags).map((t) => [`tag:${t}`, `tag: ${t}`]), ...info.value_names.map((v) => [`value:${v}`, `metric: ${v}`])];
  const side = h("aside", {},
    h("h3", {}, "Embeddings map"), h("div", {}, h("b", {}, key), h("span", { class: "muted" }, ` ${n} samples · ${emb.config.method || ""} ${emb.config.projection || ""}`)),
    h("h3", {}, "Colour by"),
    h("select", { id: "color-by", onchange: (e) => { location.hash = `#/d/${enc(name)}/c/${enc(key)}?color=${enc(e.target.value)}`; } },
      ...colorOpts.map(([v, l]) => h("option", { value: v, selected: v === by }, l))),
    h("div", { id: "scatter-legend" }, ...legend.map(([c, l]) => h("div", {}, swatch(c), l))),
    h("h3", {}, "Selection"), tools, selInfo);
  main().replaceChildren(h("div", { class: "layout" }, side, h("div", { class: "content" }, h("div", { class: "box scatter-box" }, svg))));
}

async function viewLabelErrors(name, key, info) {
  const res = await api(`/api/datasets/${enc(name)}/curation/${enc(key)}/label-errors?limit=200`);
  const cname = (c) => (info.classes[c] ? info.classes[c].name : String(c));
  const layer = `layer=${enc(`label-errors-${key}`)}`;
  const rows = res.rows.map((r, k) => h("tr", { "data-id": r.sample_id },
    h("td", {}, k + 1),
    h("td", { class: "l" }, h("a", { href: `#/d/${enc(name)}/s/${enc(r.sample_id)}?${layer}`, class: "sample-link" }, r.sample_id)),
    h("td", { class: "l" }, h("img", { class: "mini", loading: "lazy", alt: "", src: `/api/datasets/${enc(name)}/samples/${enc(r.sample_id)}/thumb.png?layer=gt&size=64` })),
    h("td", {}, fmt(r.label_error_score)), h("td", {}, fmt(r.label_quality)), h("td", {}, fmt(r.issue_fraction)),
    h("td", { class: "l" }, r.findings.length ? r.findings.map((f) => h("div", { class: "finding" },
      h("span", { class: `kind ${f.kind}` }, f.kind.replace("_", " ")), ` labelled ${cname(f.given)}, model says ${cname(f.suggested)} · ${fmt(f.area)} px · score ${fmt(f.score)}`))
      : h("span", { class: "muted" }, "none"))));
  main().replaceChildren(
    h("h2", {}, `Likely label errors: ${key}`, h("span", { class: "muted" }, ` ${res.rows.length} images, worst first`)),
    h("p", { class: "muted" }, "per-class confidence thresholds: ", (res.thresholds || []).map((t, c) => `${cname(c)} ${fmt(t)}`).join(" · ")),
    h("table", { id: "label-errors" }, h("tr", {}, ...["#", "sample", "", "score", "label quality", "issue fraction", "findings"].map((t) => h("th", { class: t === "sample" || t === "findings" ? "l" : "" }, t))), rows));
}

// ---------------------------------------------------------------- router
let routeGen = 0;  // counts routes, so a slow view does not draw over a newer one

async function route() {
  routeGen += 1;
  status("");
  const { parts, params } = parseHash();
  try {
    if (parts[0] === "d" && parts.length === 2) await viewGrid(parts[1], params);
    else if (parts[0] === "d" && parts[2] === "s") await viewSample(parts[1], parts[3], params);
    else if (parts[0] === "d" && parts[2] === "e") await viewEvaluation(parts[1], parts[3], params);
    else if (parts[0] === "d" && parts[2] === "c") await viewCuration(parts[1], parts[3], params);
    else await viewDatasets();
  } catch (err) {
    status(err.message);
    main().replaceChildren(h("p", { class: "error" }, err.message));
  }
}
window.addEventListener("hashchange", route);
route();
