"""One screenshot per studio tab, each after its main action, for the README:

    make studio-screenshots          # = .venv/bin/python scripts/studio_screenshots.py --out docs

serves what ``kinema studio`` serves (without ``--models``: the bundled models,
``kinema/bundled/models`` or $KINEMA_BUNDLED; ``--models runs`` for one's own runs) on a free
loopback port, drives Debian's chromium through Playwright as a person would (a picture chosen,
the button pressed, the poke dragged, two points clicked to track) in a 1280x900 window and
writes OUT/studio-{animate,poke,vary,edit,generate}.png (the whole page; ``--tabs edit,generate``
for some only). It prints, per tab, the model used and the line under its result that says what
made it; a tab without a model is shot as it is (its hint says how to make one) and named at
the end."""
from __future__ import annotations

import argparse
import shutil
import socket
import sys
import threading
import time
from pathlib import Path

ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
VIEWPORT = {"width": 1280, "height": 900}
# per tab: the model to prefer (the first option whose id contains this: a bundled name or a
# run's) and the picture (from the synthetic suite the bundled models were trained on)
CHOICES = {"animate": ("dynamics", "swaying-0"), "poke": ("dynamics", "swaying-2"),
           "vary": ("control", "clouds-0"), "edit": ("gendef", None),
           "generate": ("latentgan", "actors-0")}
WAIT_MS = 600_000       # a CPU-sized model's first call loads it (and dynamics' a spectral volume)


def start_server(models: Path) -> tuple[str, callable]:
    import uvicorn

    from kinema.serve.app import create_app

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(models), host="127.0.0.1", port=port,
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)

    def stop():
        server.should_exit = True
        thread.join(10)
    return f"http://127.0.0.1:{port}", stop


def open_tab(page, tab: str) -> str | None:
    """Open ``tab``, choose its preferred model and picture; the section, or None without a model."""
    page.click(f"nav button[data-tab={tab}]")
    section = f"#tab-{tab}"
    options = page.eval_on_selector_all(f"{section} .model option", "o => o.map(e => e.value)")
    if not options:
        return None
    wanted, picture = CHOICES[tab]
    page.select_option(f"{section} .model", next((o for o in options if wanted in o), options[0]))
    if picture:
        page.click(f"#picture-strip img[data-id={picture}]")
    return section


def act(page, tab: str, section: str) -> None:
    """The tab's main action, waited for until its result shows in full (the tab's buttons are
    enabled again once its last figure is in place)."""
    if tab == "animate":
        # one video, no loop: the self-guided loop of a 64 px dynamics model took over 10 min
        # on a loaded 2-core CPU
        page.fill(f"{section} [name=num]", "1")
        page.click(f"{section} .run")
        page.wait_for_selector(f"{section} figure.result", timeout=WAIT_MS)
    elif tab == "poke":
        page.wait_for_function("studio.pokeReady === studio.picture", timeout=WAIT_MS)
        box = page.locator("#poke-canvas").bounding_box()
        x, y = box["x"] + 0.5 * box["width"], box["y"] + 0.3 * box["height"]
        page.mouse.move(x, y)
        page.mouse.down()
        page.mouse.move(x + 60, y + 20, steps=6)
        page.mouse.up()
        page.wait_for_function("studio.poke.stats && studio.poke.stats.frames", timeout=WAIT_MS)
        page.wait_for_selector("#poke-download:not([hidden])", timeout=WAIT_MS)
    elif tab == "vary":
        page.check(f"{section} [name=mode][value=control]")
        page.click(f"{section} .run")
        page.wait_for_selector(f"{section} figure.result", timeout=WAIT_MS)
    elif tab == "edit":
        page.fill(f"{section} [name=frames]", "16")
        page.click(f"{section} .canonical")
        page.wait_for_selector(f"{section} figure.result", timeout=WAIT_MS)
        page.wait_for_function("s => !document.querySelector(s + ' button:disabled')", arg=section,
                               timeout=WAIT_MS)
        page.check(f"{section} [name=tool][value=track]")
        box = page.locator("#edit-canvas").bounding_box()
        for fx, fy in ((0.3, 0.3), (0.8, 0.4)):       # in the upper half: the sky of clouds
            page.mouse.click(box["x"] + fx * box["width"], box["y"] + fy * box["height"])
        page.click(f"{section} .run")
        page.wait_for_selector(f"{section} .legend li", timeout=WAIT_MS)
    elif tab == "generate":
        page.fill(f"{section} [name=num]", "1")
        page.fill(f"{section} [name=frames]", "48")
        page.select_option(f"{section} [name=identity]", "picture")
        page.click(f"{section} .run")
        page.wait_for_selector(f"{section} figure img.plot", timeout=WAIT_MS)
    page.wait_for_function("s => !document.querySelector(s + ' button:disabled')", arg=section,
                           timeout=WAIT_MS)
    if page.is_visible(f"{section} .error"):
        raise SystemExit(f"{tab}: the studio answered {page.inner_text(f'{section} .error')!r}")
    page.wait_for_timeout(400)          # a few frames played: the players are not all frame 0


def label(page, tab: str, section: str) -> str:
    """The line under the tab's (first) result that says what made it."""
    where = "#poke-about .about" if tab == "poke" else f"{section} figure.result .about >> nth=0"
    return page.inner_text(where) if page.locator(where).count() else "(no label)"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=Path, default=None,
                        help="folder of trained models (default: the bundled models, as kinema studio)")
    parser.add_argument("--out", type=Path, default=Path("docs"))
    parser.add_argument("--tabs", default=",".join(CHOICES), help="comma-separated tabs to shoot")
    args = parser.parse_args(argv)
    tabs = args.tabs.split(",")
    if unknown := sorted(set(tabs) - set(CHOICES)):
        parser.error(f"--tabs: no tab {', '.join(unknown)}; the tabs are {', '.join(CHOICES)}")
    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    from playwright.sync_api import sync_playwright

    from kinema.serve.models import models_folder

    models = models_folder(args.models)
    print(f"serving {models}")
    url, stop = start_server(models)
    args.out.mkdir(parents=True, exist_ok=True)
    without = []
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium, args=ARGS)
            page = browser.new_page(viewport=VIEWPORT)
            page.goto(url + "/")
            page.wait_for_function("window.studio && window.studio.ready", timeout=60_000)
            for tab in tabs:
                started = time.monotonic()
                section = open_tab(page, tab)
                if section:
                    act(page, tab, section)
                else:
                    without.append(tab)
                path = args.out / f"studio-{tab}.png"
                page.screenshot(path=str(path), full_page=True)
                if section:
                    print(f"wrote {path} ({page.input_value(f'{section} .model')}, "
                          f"{time.monotonic() - started:.0f} s): {label(page, tab, section)}")
                else:
                    print(f"wrote {path}: no model")
            browser.close()
    finally:
        stop()
    if without:
        print(f"tabs without a model, shot as they are: {', '.join(without)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
