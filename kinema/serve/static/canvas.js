// kinema studio: the two interactive canvases — Poke (drag and release; frames streamed over a
// websocket as the modal simulation makes them; the picture poked is the chosen one, with the
// model's predicted motion, or an uploaded video's first frame at its own size, with the clip's
// own modal basis and no model) and Edit (scribble on GenDeF's canonical image,
// or click points to track). Loaded before studio.js, whose helpers ($, api, runJob, modelOf,
// number, loadImage, showError, clearError, followJob) and results.js's trackColour, aboutLine and
// element these functions call once the page has started.
"use strict";

// ------------------------------------------------------------------ poke: drag and release

const poke = { start: null, end: null, image: null, socket: null, released: 0, video: null };

async function drawPokePicture() {
  const section = $("#tab-poke"), canvas = $("#poke-canvas");
  const model = modelOf(section);
  if (poke.video || !model || !studio.picture) return;     // a video's first frame stays
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

// the streamed frames as one PNG to download, 8 to a row, enlarged by the whole factor the
// server's downloads use (kinema.serve.downloads.MIN_SIDE: the longer side at least 128 px)
const DOWNLOAD_MIN_SIDE = 128;

function pokeStrip(p) {
  const { width: w, height: h } = p.info, count = p.frames.length;
  const scale = Math.max(1, Math.ceil(DOWNLOAD_MIN_SIDE / Math.max(w, h)));
  const columns = Math.min(count, 8), rows = Math.ceil(count / columns);
  const frame = Object.assign(document.createElement("canvas"), { width: w, height: h });
  const sheet = Object.assign(document.createElement("canvas"), { width: columns * w * scale, height: rows * h * scale });
  const context = sheet.getContext("2d");
  context.imageSmoothingEnabled = false;
  p.frames.forEach((buffer, k) => {
    frame.getContext("2d").putImageData(new ImageData(new Uint8ClampedArray(buffer), w, h), 0, 0);
    context.drawImage(frame, (k % columns) * w * scale, Math.floor(k / columns) * h * scale, w * scale, h * scale);
  });
  return new Promise((resolve) => sheet.toBlob(resolve, "image/png"));
}

async function offerPokeDownload(p) {
  const holder = $("#poke-download"), link = $("a", holder);
  const blob = await pokeStrip(p);
  if (studio.poke !== p) return;                 // reset or poked again meanwhile
  if (link.href) URL.revokeObjectURL(link.href);
  link.href = URL.createObjectURL(blob);
  holder.hidden = false;
}

function hidePokeDownload() {
  const holder = $("#poke-download"), link = $("a", holder);
  holder.hidden = true;
  if (link.href) URL.revokeObjectURL(link.href);
  link.removeAttribute("href");
}

function playPoke(time) {
  const p = studio.poke, canvas = $("#poke-canvas");
  if (p.reset) return;
  if (p.next < p.frames.length && (!p.drawn.length || time - p.drawn[p.drawn.length - 1] >= 1000 / PLAY_FPS - 2)) {
    const { width, height } = p.info;
    canvas.getContext("2d").putImageData(new ImageData(new Uint8ClampedArray(p.frames[p.next]), width, height), 0, 0);
    p.next += 1;
    p.drawn.push(performance.now());
  }
  if (p.ended && p.next >= p.frames.length) { finishPoke(); offerPokeDownload(p); return; }
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
        if (p.reset) return;
        canvas.width = message.width; canvas.height = message.height;
        Object.assign(p, { info: message, frames: [], times: [], drawn: [], next: 0, ended: false, stats: null });
        requestAnimationFrame(playPoke);
      } else if (message.type === "end") {
        p.ended = true;
      } else if (message.type === "ready") {
        poke.ready = message.picture; studio.pokeReady = message.picture;
        if (poke.video) return;       // a picture prepared while a video was uploaded: the video stays
        clearError(section);          // an earlier picture's error is stale now
        $("#poke-stats").textContent = READY;
        // what the poke's frames come from: the model, and whether the picture is in its domain
        $("#poke-about").replaceChildren(...(message.about ? [aboutLine(message.about)] : []));
      } else if (message.type === "error") {
        showError(section, message.error);
        p.stats = { error: message.error };
      }
      return;
    }
    if (p.reset) return;              // frames of a simulation the Reset button dropped
    p.frames.push(event.data);
    p.times.push(performance.now());
  };
  poke.socket = socket;
  return socket;
}

const READY = "ready: drag a part of the picture and let go";

function resetPoke() {
  // back to the still picture: the simulation's frames dropped (those still arriving too), no
  // arrow, no stats, no error
  studio.poke = { frames: [], stats: null, times: [], drawn: [], next: 0, ended: true, reset: true };
  poke.start = null; poke.end = null;
  const canvas = $("#poke-canvas");
  if (poke.image) {
    canvas.width = poke.image.width; canvas.height = poke.image.height;
    canvas.getContext("2d").putImageData(poke.image, 0, 0);
  }
  clearError($("#tab-poke"));
  hidePokeDownload();
  $("#poke-stats").textContent = poke.video || poke.ready === studio.picture ? READY : "";
}

// ------------------------------------------------------------------ poke a video: its own motion

function pokeVideoMode(on) {
  // a video needs no model: the tab's controls and canvas show even where no model is trained
  const section = $("#tab-poke"), hasModels = $(".model", section).options.length > 0;
  $(".model-choice", section).hidden = on;
  $$(".controls, .note, .poke-area", section).forEach((el) => (el.hidden = !(on || hasModels)));
}

async function uploadPokeVideo(file) {
  // the clip's bytes -> a job that makes its modal basis (progress in the tab's bar) -> its first
  // frame on the canvas, poked from then on with the clip's own motion
  const section = $("#tab-poke"), input = $("#poke-video"), status = $("#poke-video-status");
  clearError(section);
  status.textContent = `${file.name}: uploading…`;
  input.disabled = true;
  try {
    const { job } = await api("/api/videos", { method: "POST", body: file,
                                               headers: { "content-type": file.type || "application/octet-stream" } });
    status.textContent = `${file.name}: finding its motion…`;
    const result = await followJob(section, job);
    const image = await loadImage(`/api/jobs/${job}/media/${result.first_frame}`);
    poke.video = { id: result.video, caption: result.caption, name: file.name };
    const canvas = $("#poke-canvas");
    canvas.width = result.width; canvas.height = result.height;
    const context = canvas.getContext("2d");
    context.drawImage(image, 0, 0);
    poke.image = context.getImageData(0, 0, result.width, result.height);
    pokeVideoMode(true);
    resetPoke();
    $("#poke-about").replaceChildren(element("p", { className: "about", textContent: result.caption }));
    status.textContent = `${file.name}: ${result.width}×${result.height}, ${result.frames} frames`;
  } catch (err) {
    status.textContent = "";
    showError(section, err.message, "video");
  } finally {
    input.disabled = false;
  }
}

function leavePokeVideo() {
  if (!poke.video) return;
  poke.video = null; poke.prepared = null;       // the chosen picture is prepared again
  $("#poke-about").replaceChildren();
  $("#poke-video-status").textContent = pokeVideoHint();
  pokeVideoMode(false);
}

function pokeVideoHint() {
  const { max_clip_frames: frames, max_clip_pixels: pixels } = studio.state.limits;
  return `a short clip (mp4, webm or gif; at most ${frames} frames of ${pixels.toLocaleString("en")} pixels): ` +
         "its first frame poked with the clip's own motion, no learned model";
}

function setUpPoke() {
  const canvas = $("#poke-canvas"), section = $("#tab-poke");
  $(".reset", section).addEventListener("click", resetPoke);
  $("#poke-video-status").textContent = pokeVideoHint();
  $("#poke-video").addEventListener("change", (event) => {
    const file = event.target.files[0];
    event.target.value = "";                       // the same file may be chosen again
    if (file) uploadPokeVideo(file);
  });
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
    clearError(section);
    // a video's first frame is poked by the clip's id; a picture by the model and its id
    const subject = poke.video ? { video: poke.video.id } : { model: modelOf(section).id, picture: studio.picture };
    const message = { type: "poke", ...subject,
                      point: start.map((v) => Math.min(1, Math.max(0, v))),
                      drag: [end[0] - start[0], end[1] - start[1]],
                      damping: number(section, "damping"), stiffness: number(section, "stiffness"),
                      frames: number(section, "frames") };
    studio.poke = { frames: [], stats: null, times: [], drawn: [], next: 0 };
    hidePokeDownload();
    poke.released = performance.now();
    const socket = openSocket();
    const send = () => socket.send(JSON.stringify(message));
    if (socket.readyState === 1) send(); else socket.addEventListener("open", send, { once: true });
  });
}

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
  // each point in the colour its track will have, numbered as in the tracks' legend
  context.font = "bold 11px sans-serif"; context.textBaseline = "middle";
  edit.points.forEach(([x, y], i) => {
    context.fillStyle = trackColour(i);
    context.beginPath(); context.arc(x * canvas.width, y * canvas.height, 5, 0, 7); context.fill();
    context.strokeStyle = "#000"; context.lineWidth = 3;
    context.strokeText(String(i + 1), x * canvas.width + 7, y * canvas.height);
    context.fillText(String(i + 1), x * canvas.width + 7, y * canvas.height);
  });
}

function labelEditRun(section) {
  const track = $("[name=tool]:checked", section).value === "track";
  $(".run", section).textContent = track ? "Track points" : "Propagate edit";
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
  $$("[name=tool]", section).forEach((r) => r.addEventListener("change", () => labelEditRun(section)));
  labelEditRun(section);
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
