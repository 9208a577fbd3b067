// ionflow app: the page talks to the JSON API of ionflow/app/_server.py. No framework, no CDN.
"use strict";

const $ = (id) => document.getElementById(id);
const state = { upload: null, job: null, maxBytes: null, previewSeq: 0, timer: null };

function show(id, visible = true) { $(id).hidden = !visible; }

function message(text, kind = "error") {
  const box = $("message");
  box.textContent = text || "";
  box.className = kind === "info" ? "info" : "";
  box.hidden = !text;
}

function detailText(body, status) {
  // FastAPI: {"detail": "message"} or, for invalid fields, {"detail": [{"msg": ..., "loc": [...]}]}
  const d = body && body.detail;
  if (typeof d === "string") return d;
  if (Array.isArray(d)) return d.map((e) => `${(e.loc || []).slice(1).join(".")}: ${e.msg}`).join("; ");
  return `the server answered ${status}`;
}

async function api(path, options = {}) {
  let response;
  try {
    response = await fetch(path, options);
  } catch (err) {
    throw new Error(`no answer from the ionflow server (${err.message}); is it still running?`);
  }
  let body = null;
  const type = response.headers.get("content-type") || "";
  if (type.includes("application/json")) body = await response.json();
  if (!response.ok) throw new Error(detailText(body, response.status));
  return body;
}

function fmt(v, digits = 6) {
  if (v === null || v === undefined) return "inf";
  if (typeof v !== "number") return String(v);
  return String(parseFloat(v.toPrecision(digits)));
}

function mb(n) { return `${parseFloat((n / 1e6).toPrecision(3))} MB`; }

// ---- 1. upload -------------------------------------------------------------------------------

async function uploadFile(file) {
  if (!file) return;
  message("");
  if (state.maxBytes !== null && file.size > state.maxBytes) {
    message(`${file.name}: the file is ${mb(file.size)}; the limit is ${mb(state.maxBytes)} ` +
            "(start the app with --max-upload-mb to change it)");
    return;
  }
  const form = new FormData();
  form.append("file", file, file.name);
  message(`uploading ${file.name} ...`, "info");
  try {
    const info = await api("/api/uploads", { method: "POST", body: form });
    message("");
    setUpload(info);
  } catch (err) {
    message(err.message);
  }
}

function setUpload(info) {
  state.upload = info;
  state.job = null;
  const px = info.pixel_size ? `, pixel ${fmt(info.pixel_size * 1e6, 4)} um (from the file)` : "";
  $("file-info").textContent =
    `${info.name}: ${info.shape.join(" x ")} ${info.ndim === 3 ? "voxels" : "pixels"}, ` +
    `${info.kind} image${px}`;
  show("file-info");
  // phase controls that apply to this kind of image
  show("phases-row", info.kind === "grayscale");
  if (info.kind !== "grayscale") $("phases").value = "2";
  if (info.kind === "grayscale") {
    const [lo, hi] = info.gray_range;
    for (const el of [$("threshold"), $("threshold-value"), $("cut-0"), $("cut-1")]) {
      el.min = lo; el.max = hi; el.step = (hi - lo) / 1000 || "any";
    }
    setThreshold(info.default_threshold);
    state.thresholdTouched = false;
  }
  state.cutsTouched = false;
  $("conductive-phase").value = "";
  showPhaseRows();
  show("label-row", info.kind === "labels");
  const select = $("conductive-label");
  select.innerHTML = '<option value="">choose...</option>' +
    info.values.map((v) => `<option value="${v}">label ${v}</option>`).join("");
  show("slice-row", info.ndim === 3);
  if (info.ndim === 3) { $("slice").max = info.shape[0] - 1; $("slice").value = Math.floor(info.shape[0] / 2); }
  $("axis-2").disabled = info.ndim !== 3;
  if (info.ndim !== 3 && $("axis").value === "2") $("axis").value = "0";
  $("pixel-size").placeholder = info.pixel_size ? `${info.pixel_size} (from the file)` : "l = 1 (none in the file)";
  show("segment-section"); show("run-section"); show("results-section", false);
  requestPreview();
}

function threePhases() { return state.upload && state.upload.kind === "grayscale" && $("phases").value === "3"; }

function phaseNames() { return [0, 1, 2].map((k) => $(`name-${k}`).value.trim()); }

// rows for two phases (one threshold, invert) or three (two cuts, names, the conducting one)
function showPhaseRows() {
  const three = threePhases();
  show("threshold-row", state.upload.kind === "grayscale" && !three);
  for (const id of ["cuts-row", "names-row", "conducting-row"]) show(id, three);
  $("invert").disabled = state.upload.kind === "labels" || three;
  updatePhaseChoices();
}

function updatePhaseChoices() {
  const select = $("conductive-phase");
  const chosen = select.value;
  select.innerHTML = '<option value="">choose...</option>' +
    phaseNames().map((n, k) => `<option value="${k}">${n || k}</option>`).join("");
  select.value = chosen;
}

function setThreshold(v) {
  $("threshold").value = v;
  $("threshold-value").value = v === null ? "" : fmt(v);
}

// ---- 2. phases -------------------------------------------------------------------------------

function phaseOptions() {
  const u = state.upload;
  const crop = ["top", "bottom", "left", "right"].map((s) => Number($(`crop-${s}`).value) || 0);
  const label = $("conductive-label").value;
  if (threePhases()) {
    const names = phaseNames();
    const phase = $("conductive-phase").value;
    return {
      threshold: state.cutsTouched ? [Number($("cut-0").value), Number($("cut-1").value)] : null,
      invert: false,
      denoise: $("denoise").value || null,
      min_size: Math.max(0, Math.round(Number($("min-size").value) || 0)),
      conductive_label: null,
      crop: crop.some((v) => v > 0) ? crop : null,
      phases: 3,
      phase_names: names.some((n) => n !== "") ? names : null,
      conductive_phases: phase === "" ? null : [phase],
    };
  }
  return {
    threshold: u.kind === "grayscale" && state.thresholdTouched ? Number($("threshold-value").value) : null,
    invert: u.kind !== "labels" && $("invert").checked,
    denoise: $("denoise").value || null,
    min_size: Math.max(0, Math.round(Number($("min-size").value) || 0)),
    conductive_label: u.kind === "labels" && label !== "" ? Number(label) : null,
    crop: crop.some((v) => v > 0) ? crop : null,
  };
}

function schedulePreview() {
  clearTimeout(state.timer);
  state.timer = setTimeout(requestPreview, 200);
}

async function requestPreview() {
  if (!state.upload) return;
  const seq = ++state.previewSeq;
  const body = { options: phaseOptions(), index: state.upload.ndim === 3 ? Number($("slice").value) : null };
  try {
    const r = await api(`/api/uploads/${state.upload.id}/segmentation`, {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
    });
    if (seq !== state.previewSeq) return;  // a newer request is on its way
    message("");
    $("preview").src = r.image;
    $("fraction").textContent = fmt(r.electrolyte_fraction, 4);
    const cuts = r.thresholds || [];
    $("used-threshold").textContent = cuts.length ? `(threshold${cuts.length > 1 ? "s" : ""} ${cuts.map((t) => fmt(t, 4)).join(", ")})` : "";
    if (!state.thresholdTouched && r.threshold !== null && state.upload.kind === "grayscale") setThreshold(r.threshold);
    if (!state.cutsTouched && cuts.length === 2) { $("cut-0").value = fmt(cuts[0]); $("cut-1").value = fmt(cuts[1]); }
    const fractions = r.phase_fractions || [];
    $("phase-fractions").textContent = fractions.length ? "Phases, darkest first: " + fractions.map(
      (f, k) => `${r.phase_names[k]} ${fmt(f, 3)}${r.conductive_phases.includes(k) ? " (conducts)" : ""}`).join(", ") : "";
    show("phase-fractions", fractions.length > 0);
    $("segment-warning").textContent = r.warning || "";
    show("segment-warning", Boolean(r.warning));
  } catch (err) {
    if (seq === state.previewSeq) message(err.message);
  }
}

// ---- 3. solve --------------------------------------------------------------------------------

async function run() {
  if (!state.upload) return;
  message("");
  const num = (id) => ($(id).value === "" ? null : Number($(id).value));
  const body = {
    options: phaseOptions(), axis: $("axis").value,
    exact: $("exact").checked, surrogate: $("surrogate").checked,
    voltage: num("voltage") ?? 1, conductivity: num("conductivity") ?? 1, pixel_size: num("pixel-size"),
  };
  $("run").disabled = true;
  show("busy");
  $("progress").value = 0;
  $("progress-text").textContent = "starting";
  try {
    const job = await api(`/api/uploads/${state.upload.id}/jobs`, {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
    });
    await poll(job.id);
  } catch (err) {
    message(err.message);
  } finally {
    $("run").disabled = false;
    show("busy", false);
  }
}

async function poll(jobId) {
  for (;;) {
    const job = await api(`/api/jobs/${jobId}`);
    $("progress").max = job.total;
    $("progress").value = job.step;
    $("progress-text").textContent = `${job.message} (${job.step} of ${job.total} steps, ${job.elapsed.toFixed(1)} s)`;
    if (job.state === "done") { showResult(jobId, job.result); return; }
    if (job.state === "error") throw new Error(job.error);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

// ---- 4. results ------------------------------------------------------------------------------

function cell(row, key, value, cls = "") {
  const td = document.createElement("td");
  td.textContent = value;
  td.dataset.key = key;
  td.dataset.axis = row.axis;
  td.dataset.kind = row.kind;
  if (typeof row[key] === "number") td.dataset.value = String(row[key]);
  if (cls) td.className = cls;
  return td;
}

function showResult(jobId, result) {
  state.job = jobId;
  const tbody = $("results").querySelector("tbody");
  tbody.innerHTML = "";
  for (const row of result.results) {
    const tr = document.createElement("tr");
    tr.className = row.kind;
    const exact = row.kind === "exact";
    tr.append(
      cell(row, "axis", String(row.axis)),
      cell(row, "kind", exact ? `exact (${row.method})` : "surrogate", "text"),
      cell(row, "relative_conductivity", fmt(row.relative_conductivity), "main"),
      cell(row, "conductivity", fmt(row.conductivity)),
      cell(row, "tortuosity", fmt(row.tortuosity)),
      cell(row, "electrolyte_fraction", fmt(row.electrolyte_fraction, 4)),
      cell(row, "percolating_fraction", fmt(row.percolating_fraction, 4)),
      cell(row, "current", fmt(row.current)),
      cell(row, "resistance", fmt(row.resistance)),
      cell(row, "interval", row.interval ? `${fmt(row.interval[0], 4)} .. ${fmt(row.interval[1], 4)}` : "-"),
    );
    let trust = exact ? `accuracy ${fmt(row.accuracy, 2)}` : (row.ood ? `ood: ${row.ood_reasons.join("; ")}` : "in range");
    if (!exact && row.error_percent !== undefined && row.error_percent !== null) trust += ` (${fmt(row.error_percent, 3)} % from exact)`;
    if (exact && !row.percolating) trust = "no percolating path: no current";
    tr.append(cell(row, "trust", trust, "text" + (!exact && row.ood ? " ood" : "")));
    tbody.append(tr);
  }
  const errors = Object.entries(result.surrogate_errors || {});
  if (errors.length) message(errors.map(([a, e]) => `surrogate, axis ${a}: ${e}`).join("\n"));
  $("command").textContent = `Same exact numbers from the command line: ${result.command}` +
    ` (${result.seconds.toFixed(2)} s here)`;
  const links = [
    `<a id="download-json" href="/api/jobs/${jobId}/result.json" download>JSON</a>`,
    `<a id="download-csv" href="/api/jobs/${jobId}/result.csv" download>CSV</a>`,
  ];
  const axes = [...new Set(result.results.filter((r) => r.kind === "exact").map((r) => r.axis))];
  for (const a of axes) {
    links.push(`<a href="/api/jobs/${jobId}/fields/${a}/potential.tif" download>potential, axis ${a} (TIFF)</a>`);
    links.push(`<a href="/api/jobs/${jobId}/fields/${a}/current.tif" download>|current density|, axis ${a} (TIFF)</a>`);
  }
  $("downloads").innerHTML = "Download: " + links.join(" · ");
  $("map-axis").innerHTML = axes.map((a) => `<option value="${a}">${a}</option>`).join("");
  show("maps-controls", axes.length > 0);
  show("maps", axes.length > 0);
  state.resultShape = result.shape;
  updateMapSlice();
  show("results-section");
  updateMaps();
}

function mapPlane(ndim, axis) { return ndim === 2 ? null : (axis !== 2 ? 2 : 1); }

function updateMapSlice() {
  const shape = state.resultShape || [];
  const plane = mapPlane(shape.length, Number($("map-axis").value));
  show("map-slice-row", plane !== null);
  if (plane !== null) { $("map-slice").max = shape[plane] - 1; $("map-slice").value = Math.floor(shape[plane] / 2); }
}

function updateMaps() {
  if (!state.job || !$("map-axis").value) return;
  const a = $("map-axis").value;
  const index = $("map-slice-row").hidden ? "" : `index=${$("map-slice").value}&`;
  const base = `/api/jobs/${state.job}/maps/${a}`;
  $("map-potential").src = `${base}/potential.png?${index}`;
  $("map-current").src = `${base}/current.png?${index}log=${$("log-current").checked}`;
}

// ---- wiring ----------------------------------------------------------------------------------

window.addEventListener("DOMContentLoaded", async () => {
  const zone = $("drop-zone");
  zone.addEventListener("dragover", (e) => { e.preventDefault(); zone.classList.add("over"); });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (e) => {
    e.preventDefault();
    zone.classList.remove("over");
    uploadFile(e.dataTransfer.files[0]);
  });
  zone.addEventListener("keydown", (e) => { if (e.key === "Enter" || e.key === " ") $("file-input").click(); });
  $("file-input").addEventListener("change", (e) => { uploadFile(e.target.files[0]); e.target.value = ""; });
  $("threshold").addEventListener("input", () => {
    state.thresholdTouched = true;
    $("threshold-value").value = fmt(Number($("threshold").value));
    schedulePreview();
  });
  $("threshold-value").addEventListener("change", () => {
    state.thresholdTouched = true;
    $("threshold").value = $("threshold-value").value;
    schedulePreview();
  });
  $("phases").addEventListener("change", () => {
    state.cutsTouched = false;
    showPhaseRows();
    schedulePreview();
  });
  for (const id of ["cut-0", "cut-1"]) {
    $(id).addEventListener("change", () => { state.cutsTouched = true; schedulePreview(); });
  }
  $("multi-otsu").addEventListener("click", () => { state.cutsTouched = false; schedulePreview(); });
  for (const id of ["name-0", "name-1", "name-2"]) {
    $(id).addEventListener("input", () => { updatePhaseChoices(); schedulePreview(); });
  }
  $("conductive-phase").addEventListener("change", schedulePreview);
  $("otsu").addEventListener("click", () => {
    state.thresholdTouched = false;
    schedulePreview();
  });
  for (const id of ["invert", "denoise", "min-size", "conductive-label", "slice",
                    "crop-top", "crop-bottom", "crop-left", "crop-right"]) {
    $(id).addEventListener("input", schedulePreview);
  }
  $("run").addEventListener("click", run);
  $("map-axis").addEventListener("change", () => { updateMapSlice(); updateMaps(); });
  $("map-slice").addEventListener("change", updateMaps);
  $("log-current").addEventListener("change", updateMaps);
  try {
    const info = await api("/api/info");
    state.maxBytes = info.max_upload_bytes;
    $("max-size").textContent = mb(info.max_upload_bytes);
    $("version").textContent = `ionflow ${info.version}`;
  } catch (err) {
    message(err.message);
  }
});
