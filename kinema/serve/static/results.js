// kinema studio: a finished job's result on the page. The input picture stands first, beside
// the videos (played from their sprite sheets by studio.js's Player) and stills; under each, its
// caption, what made it (`about`: model, resolution, training data, steps, and when the input is
// outside the training data the sentence saying so) and links to download it (a video as mp4,
// gif or a png of its frames). Tracked points get a legend of their colours.
"use strict";

// the colour kinema.methods.gendef.apps.draw_tracks gives point i is TRACK_COLOURS[i mod 6]
// (the browser test reads it back from a tracked video's pixels)
const TRACK_COLOURS = [[255, 40, 40], [40, 220, 40], [40, 120, 255], [255, 200, 0], [255, 0, 255], [0, 230, 230]];
// draw_tracks draws each point's last TRACK_TRAIL positions as its line
const TRACK_TRAIL = 8;

function trackColour(i) {
  const [r, g, b] = TRACK_COLOURS[i % TRACK_COLOURS.length];
  return `rgb(${r}, ${g}, ${b})`;
}

function element(tag, props = {}, children = []) {
  const node = Object.assign(document.createElement(tag), props);
  node.append(...children);
  return node;
}

function aboutLine(about) {
  const parts = [about.model, about.resolution, about.data && `trained on ${about.data}`,
                 about.steps != null && `${about.steps} steps`].filter(Boolean);
  const line = element("p", { className: "about", textContent: parts.join(" · ") });
  if (about.domain) line.append(element("span", { className: "domain", textContent: about.domain }));
  return line;
}

function downloadLinks(jobId, media, formats) {
  const links = formats.map((format) => element("a", {
    href: `/api/jobs/${jobId}/download/${media}.${format}`, download: "", textContent: format,
    title: format === "png" && formats.length > 1 ? "the frames in a grid, 8 to a row" : `save as .${format}` }));
  return element("p", { className: "downloads" }, ["download ", ...links]);
}

function inputFigure(input) {
  const image = element("img", { className: "input", src: `/api/pictures/${input.id}`, alt: input.title });
  return element("figure", { className: "input" }, [image, element("figcaption", { textContent: `input: ${input.title}` })]);
}

function resultFigure(content, caption, about, links) {
  const figure = element("figure", { className: "result" }, [content, element("figcaption", { textContent: caption })]);
  if (about) figure.append(aboutLine(about));
  figure.append(links);
  return figure;
}

function trackLegend(tracks) {
  // tracks: (n p 2) px, every point's position in every frame
  const n = tracks.length, list = element("ul");
  const at = ([x, y]) => `(${x.toFixed(1)}, ${y.toFixed(1)})`;
  tracks[0].forEach((start, i) => {
    const swatch = element("span", { className: "swatch" });
    swatch.style.background = trackColour(i);
    list.append(element("li", {}, [swatch, `point ${i + 1}: ${at(start)} px in frame 1, ${at(tracks[n - 1][i])} in frame ${n}`]));
  });
  const note = `Each clicked point keeps its colour (the numbered dots on the canonical image); ` +
               `its line is where it was in the last ${TRACK_TRAIL} frames.`;
  return element("div", { className: "legend" }, [element("p", { textContent: note }), list]);
}

async function showResult(section, jobId, result, input) {
  const area = $(".results", section);
  area.innerHTML = "";
  if (input) area.append(inputFigure(input));
  for (const video of result.videos || []) {
    const canvas = element("canvas", { className: "player" });
    area.append(resultFigure(canvas, `${video.label} — ${video.frames} frames`, video.about || result.about,
                             downloadLinks(jobId, video.media, ["mp4", "gif", "png"])));
    const sheet = await loadImage(`/api/jobs/${jobId}/media/${video.media}`);
    studio.players.push(new Player(canvas, sheet, video));
  }
  for (const still of result.images || []) {
    const blob = await api(`/api/jobs/${jobId}/media/${still.media}`);
    const plot = blob.type.includes("svg");
    const url = URL.createObjectURL(blob);
    const image = await loadImage(url);
    URL.revokeObjectURL(url);
    image.className = plot ? "still plot" : "still";
    area.append(resultFigure(image, still.label, still.about || result.about,
                             downloadLinks(jobId, still.media, [plot ? "svg" : "png"])));
  }
  if (result.tracks && result.tracks.length) area.append(trackLegend(result.tracks));
  return result;
}
