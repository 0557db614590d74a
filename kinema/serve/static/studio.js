// kinema studio: one page, no dependencies. The server's /api/state says which tabs have a
// trained model; each tab posts a job, polls its progress and plays the result on a canvas
// (frames come as one PNG sprite sheet per video; results.js lays the result out). The Poke tab
// streams frames over a websocket (canvas.js), of a picture or of an uploaded video's first frame.
"use strict";

const studio = { state: null, picture: null, players: [], poke: { frames: [], stats: null } };
window.studio = studio;

const $ = (sel, root = document) => root.querySelector(sel);
const $$ = (sel, root = document) => Array.from(root.querySelectorAll(sel));

async function api(path, options = {}) {
  const response = await fetch(path, options);
  const isJson = (response.headers.get("content-type") || "").includes("json");
  const body = isJson ? await response.json() : await response.blob();
  if (!response.ok) throw new Error(isJson && body.error ? body.error : `HTTP ${response.status}`);
  return body;
}

// ------------------------------------------------------------------ playing a sprite sheet

class Player {
  constructor(canvas, image, layout) {
    this.canvas = canvas; this.image = image; this.layout = layout;
    this.fps = layout.fps || 8; this.frame = 0; this.last = 0; this.shown = 0;
    canvas.width = layout.width; canvas.height = layout.height;
    this.context = canvas.getContext("2d");
    this.context.imageSmoothingEnabled = false;
    this.draw(0);
    const tick = (time) => {
      if (!this.canvas.isConnected) return;
      if (time - this.last >= 1000 / this.fps) {
        this.last = time;
        this.frame = (this.frame + 1) % this.layout.frames;
        this.draw(this.frame);
      }
      requestAnimationFrame(tick);
    };
    requestAnimationFrame(tick);
  }
  draw(k) {
    const { width: w, height: h, columns } = this.layout;
    const col = k % columns, row = Math.floor(k / columns);
    this.context.drawImage(this.image, col * w, row * h, w, h, 0, 0, w, h);
    this.shown += 1;
  }
}

function loadImage(src) {
  return new Promise((resolve, reject) => {
    const image = new Image();
    image.onload = () => resolve(image);
    image.onerror = () => reject(new Error(`could not load ${src}`));
    image.src = src;
  });
}

// ------------------------------------------------------------------ jobs with progress

function showError(section, message, cause = "run") {
  const error = $(".error", section);
  error.textContent = message;
  error.dataset.cause = cause;
  error.hidden = false;
}

function clearError(section, cause = null) {
  // cause: only an error of this cause (a "picture" error is fixed by choosing one)
  const error = $(".error", section);
  if (cause && error.dataset.cause !== cause) return;
  error.hidden = true;
  error.textContent = "";
  delete error.dataset.cause;
}

async function followJob(section, job) {
  // the job's progress in the section's bar until it ends: its result, or an Error with its message
  const progress = $(".progress", section), bar = $(".bar", progress), stage = $(".stage", progress);
  const shownAfter = performance.now() + 300;   // fast jobs do not flash a bar
  try {
    for (;;) {
      const status = await api(`/api/jobs/${job}`);
      if (performance.now() > shownAfter || status.state !== "done") {
        progress.hidden = status.state === "done";
        bar.style.width = `${Math.round(100 * status.progress)}%`;
        stage.textContent = `${status.stage} (${status.elapsed.toFixed(1)} s)`;
      }
      if (status.state === "done") return status.result;
      if (status.state === "error") throw new Error(status.error);
      await new Promise((r) => setTimeout(r, 120));
    }
  } finally {
    progress.hidden = true;
  }
}

async function runJob(section, tab, body) {
  // the picture the job animates, shown beside its results (as it was when the job was sent)
  const input = body.picture ? { id: body.picture, title: studio.pictureTitle } : null;
  clearError(section);
  $(".results", section).innerHTML = "";
  $$("button", section).forEach((b) => (b.disabled = true));
  try {
    const { job } = await api(`/api/run/${tab}`, {
      method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
    const result = await followJob(section, job);
    clearError(section);          // a stale error (say, of another picture) goes too
    await showResult(section, job, result, input);
    return { job, ...result };
  } catch (err) {
    showError(section, err.message);
    return null;
  } finally {
    $$("button", section).forEach((b) => (b.disabled = false));
  }
}

function number(section, name) {
  const input = $(`[name=${name}]`, section);
  return input && input.value !== "" ? Number(input.value) : null;
}

function modelOf(section) {
  const id = $(".model", section).value;
  return studio.state.models.find((m) => m.id === id) || null;
}

function requirePicture(section) {
  if (studio.picture) return true;
  showError(section, "choose a picture first (the strip above, or upload one)", "picture");
  return false;
}

// ------------------------------------------------------------------ tabs

const builders = {
  animate(section, model) {
    const body = { model: model.id, picture: studio.picture, num: number(section, "num"),
                   frames: number(section, "frames"), seed: number(section, "seed") };
    if (model.info && model.info.control_bins) body.control = number(section, "control");
    if (model.family === "dynamics") {
      body.loop = $("[name=loop]", section).checked;
      body.slowmo = number(section, "slowmo");
      body.magnify = number(section, "magnify");
    }
    return body;
  },
  vary(section, model) {
    const mode = $("[name=mode]:checked", section).value;
    const body = { model: model.id, picture: studio.picture, mode, seed: number(section, "seed") };
    if (mode === "samples") {
      body.num = number(section, "num");
      if (model.info && model.info.control_bins) body.control = 0;
    }
    if (mode === "control") {
      const text = $("[name=controls]", section).value.trim();
      if (text) body.controls = text.split(",").map((s) => Number(s.trim()));
    }
    if (mode === "transfer") body.clip = studio.clip;
    return body;
  },
  generate(section, model) {
    const identity = $("[name=identity]", section).value;
    const body = { model: model.id, num: number(section, "num"), frames: number(section, "frames"),
                   seed: number(section, "seed"), identity };
    if (identity === "picture") body.picture = studio.picture;
    return body;
  },
  edit(section, model) {
    const body = { model: model.id, seed: number(section, "seed"), frames: number(section, "frames") };
    if ($("[name=tool]:checked", section).value === "track") {
      body.action = "track"; body.points = edit.points;
    } else {
      body.action = "propagate"; body.strokes = edit.strokes;
    }
    return body;
  },
};

function refreshOptions(section) {
  const model = modelOf(section);
  const control = !!(model && model.info && model.info.control_bins);
  $$(".only-control", section).forEach((el) => (el.hidden = !control));
  $$(".only-dynamics", section).forEach((el) => (el.hidden = !(model && model.family === "dynamics")));
  const clips = $(".clip-strip", section);
  if (clips) {
    const mode = $("[name=mode]:checked", section).value;
    clips.hidden = mode !== "transfer";
    $("[name=num]", section).parentElement.hidden = mode !== "samples";
    $("[name=controls]", section).parentElement.hidden = !control || mode !== "control";
  }
  if (section.dataset.tab === "poke") drawPokePicture();
}

function setUpTab(tab) {
  const section = $(`#tab-${tab.name}`);
  const select = $(".model", section);
  select.innerHTML = "";
  for (const id of tab.models) {
    const model = studio.state.models.find((m) => m.id === id);
    const option = document.createElement("option");
    option.value = id; option.textContent = `${id} (${model.entry})`;
    select.append(option);
  }
  const missing = $(".missing", section);
  missing.hidden = !(tab.missing || tab.also);
  missing.textContent = tab.missing || tab.also || "";
  $$(".controls, .note, .poke-area, .edit-area", section).forEach((el) => (el.hidden = tab.models.length === 0));
  select.addEventListener("change", () => refreshOptions(section));
  $$("[name=mode]", section).forEach((r) => r.addEventListener("change", () => refreshOptions(section)));
  const run = $(".run", section);
  if (run && builders[tab.name]) {
    run.addEventListener("click", () => {
      const model = modelOf(section);
      if (!model || (["animate", "vary"].includes(tab.name) && !requirePicture(section))) return;
      runJob(section, tab.name, builders[tab.name](section, model));
    });
  }
  refreshOptions(section);
}

function showTab(name) {
  $$(".tab").forEach((s) => s.classList.toggle("active", s.dataset.tab === name));
  $$("nav button").forEach((b) => b.classList.toggle("active", b.dataset.tab === name));
  history.replaceState(null, "", `#${name}`);
  if (name === "poke") drawPokePicture();
}

// ------------------------------------------------------------------ pictures and clips

function choosePicture(id, title) {
  studio.picture = id; studio.pictureTitle = title;
  leavePokeVideo();                        // the Poke tab pokes the chosen picture again
  $("#picture-name").textContent = title;
  $$("#picture-strip img").forEach((img) => img.classList.toggle("chosen", img.dataset.id === id));
  $$(".tab").forEach((section) => clearError(section, "picture"));
  $("#upload-status").textContent = "";    // a refused upload's message is stale now
  drawPokePicture();
}

function addThumbnail(id, title, first = false) {
  const img = document.createElement("img");
  img.src = `/api/pictures/${id}`; img.alt = title; img.title = title; img.dataset.id = id;
  img.addEventListener("click", () => choosePicture(id, title));
  if (first) $("#picture-strip").prepend(img); else $("#picture-strip").append(img);
  return img;
}

async function upload(file) {
  const status = $("#upload-status");
  status.textContent = "uploading…";
  try {
    const result = await api("/api/uploads", { method: "POST", body: file,
                                               headers: { "content-type": file.type || "application/octet-stream" } });
    // first in the strip, chosen and scrolled into view: the picture the tabs now use
    const img = addThumbnail(result.id, file.name, true);
    choosePicture(result.id, file.name);
    $("#picture-strip").scrollLeft = 0;
    img.scrollIntoView({ block: "nearest", inline: "nearest" });
    status.textContent = `${result.width}×${result.height}`;
  } catch (err) {
    status.textContent = err.message;
  }
}

async function setUpClips() {
  const strip = $("#tab-vary .clip-strip");
  const { size, frames } = studio.state.clip_preview;
  for (const clip of studio.state.clips) {
    const canvas = document.createElement("canvas");
    canvas.title = clip.title; canvas.dataset.id = clip.id;
    canvas.addEventListener("click", () => {
      studio.clip = clip.id;
      $$("canvas", strip).forEach((c) => c.classList.toggle("chosen", c === canvas));
    });
    strip.append(canvas);
    const sheet = await loadImage(`/api/clips/${clip.id}`);
    new Player(canvas, sheet, { width: size, height: size, frames, columns: frames, fps: 8 });
  }
  if (studio.state.clips.length) $("canvas", strip).click();
}

// ------------------------------------------------------------------ start

async function main() {
  studio.state = await api("/api/state");
  const nav = $("#tabs");
  for (const tab of studio.state.tabs) {
    const button = document.createElement("button");
    button.textContent = tab.title; button.dataset.tab = tab.name; button.title = tab.summary;
    if (!tab.models.length) button.classList.add("unavailable");
    button.addEventListener("click", () => showTab(tab.name));
    nav.append(button);
    setUpTab(tab);
  }
  for (const picture of studio.state.pictures) addThumbnail(picture.id, picture.title);
  $("#upload").addEventListener("change", (event) => event.target.files[0] && upload(event.target.files[0]));
  setUpPoke();
  setUpEdit();
  const first = studio.state.pictures[0];
  if (first) choosePicture(first.id, first.title);
  const wanted = location.hash.slice(1);
  const names = studio.state.tabs.map((t) => t.name);
  showTab(names.includes(wanted) ? wanted : (studio.state.tabs.find((t) => t.models.length) || studio.state.tabs[0]).name);
  $("#footer").textContent = `${studio.state.models.length} model(s); uploads up to ${Math.round(studio.state.limits.max_upload_bytes / 1048576)} MB and ${(studio.state.limits.max_pixels / 1e6).toFixed(0)} megapixels`;
  await setUpClips();
  studio.ready = true;
}

main().catch((err) => { document.body.prepend(Object.assign(document.createElement("p"), { className: "error", textContent: err.message })); });
