"""The studio's ASGI app: one static page and a JSON/binary API.

    GET  /                         the page (kinema/serve/static, shipped in the package)
    GET  /api/state                models found, tabs (with the train command of a missing
                                   method), pictures and clips of the catalogue, limits
    GET  /api/pictures/{id}        a catalogue picture (PNG)
    GET  /api/clips/{id}           a clip's preview (PNG sprite sheet)
    POST /api/uploads              body = the picture's bytes -> {"id": "upload-..."}
    POST /api/videos               body = a clip's bytes (mp4, webm, gif) -> 202 {"job": id}: its
                                   modal basis made once, for the Poke tab (kinema.serve.videos)
    POST /api/run/{tab}            JSON {model, picture, ...} -> 202 {"job": id}; 429 when busy
    GET  /api/jobs/{id}            state, progress, stage, result (when done)
    GET  /api/jobs/{id}/media/{k}  a result's PNG (a sprite sheet for a video)
    GET  /api/jobs/{id}/download/{k}.{fmt}  a result as a file: a video as mp4, gif or png
                                   (its frames), a still as png or svg (kinema.serve.downloads)
    WS   /api/poke                 frames of the modal simulation, sent as they are simulated

Every error is JSON ``{"error": message}`` with a 4xx status (5xx only for a bug, whose
traceback goes to the server log, never to the client).
"""
from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from importlib import resources
from pathlib import Path

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute

from kinema.errors import KinemaError
from kinema.validate import short_repr
from kinema.serve.catalogue import Catalogue
from kinema.serve.jobs import Jobs
from kinema.serve.media import decode_upload, decode_video_upload, sprite_sheet, video_to_uint8, png
from kinema.serve.models import TABS, ModelStore, with_about
from kinema.serve.requests import ApiError, Payload, read_body, read_json
from kinema.serve.videos import PokeVideos

log = logging.getLogger("kinema.studio")
STATIC = {"index.html": "text/html; charset=utf-8", "studio.js": "text/javascript; charset=utf-8",
          "canvas.js": "text/javascript; charset=utf-8", "results.js": "text/javascript; charset=utf-8",
          "studio.css": "text/css; charset=utf-8", "favicon.svg": "image/svg+xml"}
CLIP_PREVIEW = (64, 8)   # side, frames


@dataclass(frozen=True)
class StudioSettings:
    max_upload_bytes: int = 8 * 1024 * 1024
    max_pixels: int = 16_000_000          # width x height of an upload, checked before decoding
    workers: int = 1                      # model calls at once (2 CPU cores: one job uses them)
    max_waiting: int = 4                  # queued jobs beyond the running ones; more get 429
    poke_streams: int = 1                 # simulations streaming at once; more get 503
    # a clip poked with its own motion (POST /api/videos): its optical flow and every poke's
    # frames are at its full resolution, so 640x360 (5.6x the 256x160 picture the Poke tab
    # animates) and the paper's 150-frame clips at most
    max_clip_pixels: int = 640 * 360
    max_clip_frames: int = 150
    keep_videos: int = 4                  # clips kept ready to poke (tens of MB each)
    keep_jobs: int = 32                   # finished jobs whose results stay in memory
    device: str = "cpu"                   # where the models run (kinema studio --device)


def _static_files() -> dict[str, bytes]:
    folder = resources.files("kinema.serve") / "static"
    return {name: (folder / name).read_bytes() for name in STATIC}


def error_response(status: int, message: str, headers: dict | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


def require_type(request: Request, accepted: tuple[str, ...]) -> None:
    """415 unless the Content-Type starts with one of ``accepted``. Besides saying what is
    expected, this makes a cross-site page's request a non-"simple" one, which the browser
    refuses to send without a CORS preflight that this server never grants (no CSRF)."""
    kind = request.headers.get("content-type", "").lower()
    media = kind.split(";", 1)[0].strip()       # "application/json; charset=utf-8"
    # a whole media type, or a family ("image/") followed by a subtype: "application/jsonx"
    # is not JSON
    if not any(media == a or (a.endswith("/") and media.startswith(a) and len(media) > len(a))
               for a in accepted):
        raise ApiError(415, f"Content-Type must be {' or '.join(a.rstrip('/') + ('/*' if a.endswith('/') else '') for a in accepted)}; got {short_repr(kind or 'none')}")


def check_request_work(tab: str, info: dict, fields: dict) -> None:
    """The work limit every command has (``kinema.validate.check_work``, KINEMA_MAX_WORK):
    the model's frame size x the request's frames x videos (fields already checked by the
    adapter; one where a request does not say)."""
    from kinema.validate import check_work

    shape = info.get("shape")
    if not (isinstance(shape, (list, tuple)) and len(shape) == 2):
        return
    frames, videos = (fields.get(name) for name in ("frames", "num"))
    count = lambda v: v if isinstance(v, int) and not isinstance(v, bool) and v > 0 else 1
    check_work(f"the {tab} request", shape[0], shape[1], count(frames), count(videos))


def create_app(models_dir: str | Path, settings: StudioSettings | None = None,
               adapters: dict[str, str] | None = None,
               allowed_hosts: tuple[str, ...] | None = None) -> Starlette:
    """The studio for the models under ``models_dir``; ``adapters`` (family -> module, default
    ``kinema.serve.models.ADAPTERS``) lets a caller serve methods of its own;
    ``allowed_hosts``: the Host headers answered (None: any), so a page on another site that
    rebinds its DNS name to 127.0.0.1 is refused."""
    settings = settings or StudioSettings()
    store = ModelStore(Path(models_dir), adapters, device=settings.device)
    catalogue = Catalogue()
    jobs = Jobs(settings.workers, settings.max_waiting, settings.keep_jobs)
    videos = PokeVideos(settings.keep_videos)
    static = _static_files()
    tabs = {t.name: t for t in TABS}

    async def page(request: Request) -> Response:
        return Response(static["index.html"], media_type=STATIC["index.html"])

    async def static_file(request: Request) -> Response:
        name = request.path_params["name"]
        if name not in static:            # a fixed table: no request path reaches the disk
            raise ApiError(404, f"no static file {short_repr(name)}")
        return Response(static[name], media_type=STATIC[name],
                        headers={"Cache-Control": "no-cache"})

    async def state(request: Request) -> Response:
        out = store.state()
        out.update(catalogue.listing())
        out["limits"] = asdict(settings)
        out["clip_preview"] = {"size": CLIP_PREVIEW[0], "frames": CLIP_PREVIEW[1]}
        return JSONResponse(out)

    async def picture(request: Request) -> Response:
        image = await run_in_threadpool(catalogue.picture, request.path_params["id"])
        return Response(await run_in_threadpool(png, image), media_type="image/png")

    async def clip(request: Request) -> Response:
        found = catalogue.clip(request.path_params["id"])

        def render() -> bytes:
            video = found.video(*CLIP_PREVIEW)["video"]
            return sprite_sheet(video_to_uint8(video))[0]
        return Response(await run_in_threadpool(render), media_type="image/png")

    async def upload(request: Request) -> Response:
        require_type(request, ("image/", "application/octet-stream"))
        data = await read_body(request, settings.max_upload_bytes)
        image = await run_in_threadpool(decode_upload, data, settings.max_upload_bytes,
                                        settings.max_pixels)
        height, width = image.shape[:2]
        del image        # kept as its compressed bytes, decoded when used (Catalogue.uploads)
        key = catalogue.uploads.add(data, lambda stored: decode_upload(
            stored, settings.max_upload_bytes, settings.max_pixels))
        return JSONResponse({"id": key, "width": width, "height": height}, status_code=201)

    async def upload_video(request: Request) -> Response:
        """A clip for the Poke tab: decoded within the limits at once (4xx before the queue),
        its modal basis made by a job whose progress the page shows."""
        require_type(request, ("video/", "image/gif", "application/octet-stream"))
        data = await read_body(request, settings.max_upload_bytes)
        frames = await run_in_threadpool(decode_video_upload, data, settings.max_upload_bytes,
                                         settings.max_clip_pixels, settings.max_clip_frames)
        job = jobs.submit("poke-video", videos.request(frames))
        return JSONResponse({"job": job.id}, status_code=202)

    async def run(request: Request) -> Response:
        tab = request.path_params["tab"]
        if tab not in tabs or tab == "poke":
            raise ApiError(404, f"no tab {short_repr(tab)} runs jobs; tabs: "
                                f"{', '.join(t for t in tabs if t != 'poke')}")
        require_type(request, ("application/json",))
        payload = Payload(await read_json(request))
        served = store.get(payload.text("model", required=True), tab)
        work = with_about(served, payload.data, catalogue,
                          served.module().request(tab, payload, served, catalogue))
        check_request_work(tab, served.info, payload.data)
        job = jobs.submit(tab, work)
        return JSONResponse({"job": job.id}, status_code=202)

    async def job_state(request: Request) -> Response:
        return JSONResponse(jobs.get(request.path_params["id"]).public())

    async def job_media(request: Request) -> Response:
        data, mime = jobs.media(request.path_params["id"], request.path_params["k"])
        return Response(data, media_type=mime)

    async def job_download(request: Request) -> Response:
        from kinema.serve.downloads import download

        job = jobs.get(request.path_params["id"])
        data, mime, name = await run_in_threadpool(download, job, request.path_params["k"],
                                                   request.path_params["fmt"])
        return Response(data, media_type=mime,
                        headers={"Content-Disposition": f'attachment; filename="{name}"'})

    from kinema.serve.poke import poke_endpoint

    routes = [
        Route("/", page),
        Route("/static/{name}", static_file),
        Route("/api/state", state),
        Route("/api/pictures/{id}", picture),
        Route("/api/clips/{id}", clip),
        Route("/api/uploads", upload, methods=["POST"]),
        Route("/api/videos", upload_video, methods=["POST"]),
        Route("/api/run/{tab}", run, methods=["POST"]),
        Route("/api/jobs/{id}", job_state),
        Route("/api/jobs/{id}/media/{k:int}", job_media),
        Route("/api/jobs/{id}/download/{k:int}.{fmt}", job_download),
        WebSocketRoute("/api/poke", poke_endpoint(store, catalogue, settings, jobs, videos)),
    ]

    async def api_error(request, err: ApiError):
        return error_response(err.status, err.message, err.headers)

    async def user_error(request, err: KinemaError):
        return error_response(422, str(err))

    async def http_error(request, err: HTTPException):
        message = {404: f"no such page {short_repr(request.url.path)}",
                   405: f"{short_repr(request.method)} is not allowed on {short_repr(request.url.path)}"}.get(err.status_code, err.detail)
        return error_response(err.status_code, message)

    async def bug(request, err: Exception):
        log.exception("request %s %s failed", request.method, request.url.path)
        return error_response(500, "internal error (the server log has the details)")

    middleware = []
    if allowed_hosts is not None:
        from starlette.middleware import Middleware
        from starlette.middleware.trustedhost import TrustedHostMiddleware

        middleware.append(Middleware(TrustedHostMiddleware, allowed_hosts=list(allowed_hosts)))
    app = Starlette(routes=routes, middleware=middleware, exception_handlers={
        ApiError: api_error, KinemaError: user_error, HTTPException: http_error, Exception: bug})
    app.state.store, app.state.jobs, app.state.catalogue = store, jobs, catalogue
    app.state.videos = videos
    app.state.settings = settings
    return app
