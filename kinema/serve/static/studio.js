// kinema studio: one page, no dependencies. The server's /api/state says which tabs have a
// trained model; each tab posts a job, polls its progress and plays the result on a canvas
// (frames come as one PNG sprite sheet per video). The Poke tab streams frames over a websocket.
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

async function showResult(section, jobId, result) {
  const area = $(".results", section);
  area.innerHTML = "";
  for (const video of result.videos || []) {
    const figure = document.createElement("figure");
    const canvas = document.createElement("canvas");
    canvas.className = "player";
    figure.append(canvas);
    const caption = document.createElement("figcaption");
    caption.textContent = `${video.label} — ${video.frames} frames`;
    figure.append(caption);
    area.append(figure);
    const sheet = await loadImage(`/api/jobs/${jobId}/media/${video.media}`);
    studio.players.push(new Player(canvas, sheet, video));
  }
  for (const still of result.images || []) {
    const figure = document.createElement("figure");
    const image = await loadImage(`/api/jobs/${jobId}/media/${still.media}`);
    image.className = "still";
    figure.append(image);
    const caption = document.createElement("figcaption");
    caption.textContent = still.label;
    figure.append(caption);
    area.append(figure);
  }
  return result;
}

// ------------------------------------------------------------------ jobs with progress

async function runJob(section, tab, body) {
  const progress = $(".progress", section), bar = $(".bar", progress), stage = $(".stage", progress);
  const error = $(".error", section);
  error.hidden = true;
  $(".results", section).innerHTML = "";
  $$("button", section).forEach((b) => (b.disabled = true));
  try {
    const { job } = await api(`/api/run/${tab}`, {
      method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
    const shownAfter = performance.now() + 300;   // fast jobs do not flash a bar
    for (;;) {
      const status = await api(`/api/jobs/${job}`);
      if (performance.now() > shownAfter || status.state !== "done") {
        progress.hidden = status.state === "done";
        bar.style.width = `${Math.round(100 * status.progress)}%`;
        stage.textContent = `${status.stage} (${status.elapsed.toFixed(1)} s)`;
      }
      if (status.state === "done") {
        progress.hidden = true;
        await showResult(section, job, status.result);
        return { job, ...status.result };
      }
      if (status.state === "error") throw new Error(status.error);
      await new Promise((r) => setTimeout(r, 120));
    }
  } catch (err) {
    progress.hidden = true;
    error.textContent = err.message;
    error.hidden = false;
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
  const error = $(".error", section);
  error.textContent = "choose a picture first (the strip above, or upload one)";
  error.hidden = false;
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

// ------------------------------------------------------------------ edit: scribble or track on x_c

const edit = { strokes: [], points: [], canonical: null, drawing: null };

function drawEdit() {
  const canvas = $("#edit-canvas"), context = canvas.getContext("2d");
  context.imageSmoothingEnabled = false;
  if (edit.canonical) context.drawImage(edit.canonical, 0, 0, canvas.width, canvas.height);
  for (const stroke of edit.strokes) {
    context.strokeStyle = stroke.colour; context.fillStyle = stroke.colour;
    context.lineWidth = stroke.width * canvas.width; context.lineCap = "round"; context.lineJoin = "round";
    context.beginPath();
    stroke.points.forEach(([x, y], i) => (i ? context.lineTo : context.moveTo).call(context, x * canvas.width, y * canvas.height));
    if (stroke.points.length === 1) context.arc(stroke.points[0][0] * canvas.width, stroke.points[0][1] * canvas.height, context.lineWidth / 2, 0, 7);
    stroke.points.length === 1 ? context.fill() : context.stroke();
  }
  context.fillStyle = "#ffd21f";
  for (const [x, y] of edit.points) {
    context.beginPath(); context.arc(x * canvas.width, y * canvas.height, 4, 0, 7); context.fill();
  }
}

function setUpEdit() {
  const section = $("#tab-edit"), canvas = $("#edit-canvas");
  const where = (event) => {
    const box = canvas.getBoundingClientRect();
    return [Math.min(1, Math.max(0, (event.clientX - box.left) / box.width)),
            Math.min(1, Math.max(0, (event.clientY - box.top) / box.height))];
  };
  $(".canonical", section).addEventListener("click", async () => {
    const model = modelOf(section);
    if (!model) return;
    const out = await runJob(section, "edit", { model: model.id, action: "render",
                                                seed: number(section, "seed"), frames: number(section, "frames") });
    if (!out) return;
    edit.canonical = await loadImage(`/api/jobs/${out.job}/media/${out.images[0].media}`);
    edit.strokes = []; edit.points = [];
    canvas.width = 256; canvas.height = Math.round(256 * edit.canonical.height / edit.canonical.width);
    drawEdit();
  });
  $(".clear", section).addEventListener("click", () => { edit.strokes = []; edit.points = []; drawEdit(); });
  canvas.addEventListener("pointerdown", (event) => {
    if (!edit.canonical) return;
    if ($("[name=tool]:checked", section).value === "track") {
      edit.points.push(where(event)); drawEdit(); return;
    }
    canvas.setPointerCapture(event.pointerId);
    edit.drawing = { colour: $("[name=colour]", section).value, width: 0.06, points: [where(event)] };
    edit.strokes.push(edit.drawing); drawEdit();
  });
  canvas.addEventListener("pointermove", (event) => {
    if (!edit.drawing) return;
    edit.drawing.points.push(where(event)); drawEdit();
  });
  canvas.addEventListener("pointerup", () => (edit.drawing = null));
}

function refreshOptions(section) {
  const model = modelOf(section);
  const control = !!(model && model.info && model.info.control_bins);
  $$(".only-control", section).forEach((el) => (el.hidden = !control));
  $$(".only-dynamics", section).forEach((el) => (el.hidden = !(model && model.family === "dynamics")));
  const clips = $(".clip-strip", section);
  if (clips) clips.hidden = $("[name=mode]:checked", section).value !== "transfer";
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
  missing.hidden = tab.models.length > 0;
  missing.textContent = tab.missing || "";
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
  studio.picture = id;
  $("#picture-name").textContent = title;
  $$("#picture-strip img").forEach((img) => img.classList.toggle("chosen", img.dataset.id === id));
  drawPokePicture();
}

function addThumbnail(id, title) {
  const img = document.createElement("img");
  img.src = `/api/pictures/${id}`; img.alt = title; img.title = title; img.dataset.id = id;
  img.addEventListener("click", () => choosePicture(id, title));
  $("#picture-strip").append(img);
  return img;
}

async function upload(file) {
  const status = $("#upload-status");
  status.textContent = "uploading…";
  try {
    const result = await api("/api/uploads", { method: "POST", body: file,
                                               headers: { "content-type": file.type || "application/octet-stream" } });
    addThumbnail(result.id, file.name);
    choosePicture(result.id, file.name);
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

// ------------------------------------------------------------------ poke: drag and release

const poke = { start: null, end: null, image: null, socket: null, released: 0 };

async function drawPokePicture() {
  const section = $("#tab-poke"), canvas = $("#poke-canvas");
  const model = modelOf(section);
  if (!model || !studio.picture) return;
  const [h, w] = model.info && model.info.shape ? model.info.shape : [160, 256];
  canvas.width = w; canvas.height = h;
  const image = await loadImage(`/api/pictures/${studio.picture}`);
  preparePoke(model.id, studio.picture);
  const context = canvas.getContext("2d");
  // the server fits the picture the same way: centre crop to the model's aspect, then resize
  const scale = Math.max(w / image.width, h / image.height);
  const sw = w / scale, sh = h / scale;
  context.drawImage(image, (image.width - sw) / 2, (image.height - sh) / 2, sw, sh, 0, 0, w, h);
  poke.image = context.getImageData(0, 0, w, h);
}

function preparePoke(model, picture) {
  // the method computes what a poke of this picture needs (its spectral volume) before the release
  if (poke.prepared === `${model}/${picture}` || !$("#tab-poke").classList.contains("active")) return;
  poke.prepared = `${model}/${picture}`;
  $("#poke-stats").textContent = "preparing the picture's motion…";
  const socket = openSocket();
  const send = () => socket.send(JSON.stringify({ type: "prepare", model, picture }));
  if (socket.readyState === 1) send(); else socket.addEventListener("open", send, { once: true });
}

function canvasPoint(event) {
  const canvas = $("#poke-canvas"), box = canvas.getBoundingClientRect();
  return [(event.clientX - box.left) / box.width, (event.clientY - box.top) / box.height];
}

function drawArrow() {
  const canvas = $("#poke-canvas"), context = canvas.getContext("2d");
  if (poke.image) context.putImageData(poke.image, 0, 0);
  if (!poke.start || !poke.end) return;
  context.strokeStyle = "#ffd21f"; context.lineWidth = 2;
  context.beginPath();
  context.moveTo(poke.start[0] * canvas.width, poke.start[1] * canvas.height);
  context.lineTo(poke.end[0] * canvas.width, poke.end[1] * canvas.height);
  context.stroke();
}

// Frames are played at PLAY_FPS at most: a simulation faster than that is paced, a slower one
// is drawn as each frame arrives.
const PLAY_FPS = 30;

function finishPoke() {
  const p = studio.poke, t = p.drawn;
  const fps = t.length > 1 ? (t.length - 1) / ((t[t.length - 1] - t[0]) / 1000) : 0;
  const a = p.times;
  const arrival = a.length > 1 ? (a.length - 1) / ((a[a.length - 1] - a[0]) / 1000) : 0;
  p.stats = { frames: t.length, firstFrameMs: t[0] - poke.released, fps, arrivalFps: arrival };
  $("#poke-stats").textContent = `${t.length} frames; first frame ${Math.round(t[0] - poke.released)} ms after the release; ` +
    `played at ${fps.toFixed(1)} frames/s (simulated at ${arrival.toFixed(1)} frames/s)`;
}

function playPoke(time) {
  const p = studio.poke, canvas = $("#poke-canvas");
  if (p.next < p.frames.length && (!p.drawn.length || time - p.drawn[p.drawn.length - 1] >= 1000 / PLAY_FPS - 2)) {
    const { width, height } = p.info;
    canvas.getContext("2d").putImageData(new ImageData(new Uint8ClampedArray(p.frames[p.next]), width, height), 0, 0);
    p.next += 1;
    p.drawn.push(performance.now());
  }
  if (p.ended && p.next >= p.frames.length) { finishPoke(); return; }
  requestAnimationFrame(playPoke);
}

function openSocket() {
  if (poke.socket && poke.socket.readyState <= 1) return poke.socket;
  const socket = new WebSocket(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/api/poke`);
  socket.binaryType = "arraybuffer";
  const canvas = $("#poke-canvas"), section = $("#tab-poke");
  socket.onmessage = (event) => {
    const p = studio.poke;
    if (typeof event.data === "string") {
      const message = JSON.parse(event.data);
      if (message.type === "start") {
        canvas.width = message.width; canvas.height = message.height;
        Object.assign(p, { info: message, frames: [], times: [], drawn: [], next: 0, ended: false, stats: null });
        requestAnimationFrame(playPoke);
      } else if (message.type === "end") {
        p.ended = true;
      } else if (message.type === "ready") {
        poke.ready = message.picture; studio.pokeReady = message.picture;
        $("#poke-stats").textContent = "ready: drag a part of the picture and let go";
      } else if (message.type === "error") {
        const error = $(".error", section);
        error.textContent = message.error; error.hidden = false;
        p.stats = { error: message.error };
      }
      return;
    }
    p.frames.push(event.data);
    p.times.push(performance.now());
  };
  poke.socket = socket;
  return socket;
}

function setUpPoke() {
  const canvas = $("#poke-canvas"), section = $("#tab-poke");
  $$("input[type=range]", section).forEach((input) => {
    const out = input.nextElementSibling;
    const show = () => (out.textContent = input.value);
    input.addEventListener("input", show); show();
  });
  canvas.addEventListener("pointerdown", (event) => {
    if (!poke.image) return;
    canvas.setPointerCapture(event.pointerId);
    poke.start = canvasPoint(event); poke.end = poke.start;
    openSocket();
  });
  canvas.addEventListener("pointermove", (event) => {
    if (!poke.start) return;
    poke.end = canvasPoint(event); drawArrow();
  });
  canvas.addEventListener("pointerup", (event) => {
    if (!poke.start) return;
    const start = poke.start, end = canvasPoint(event);
    poke.start = null; poke.end = null;
    const model = modelOf(section);
    $(".error", section).hidden = true;
    const message = { type: "poke", model: model.id, picture: studio.picture,
                      point: start.map((v) => Math.min(1, Math.max(0, v))),
                      drag: [end[0] - start[0], end[1] - start[1]],
                      damping: number(section, "damping"), stiffness: number(section, "stiffness"),
                      frames: number(section, "frames") };
    studio.poke = { frames: [], stats: null, times: [], drawn: [], next: 0 };
    poke.released = performance.now();
    const socket = openSocket();
    const send = () => socket.send(JSON.stringify(message));
    if (socket.readyState === 1) send(); else socket.addEventListener("open", send, { once: true });
  });
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
