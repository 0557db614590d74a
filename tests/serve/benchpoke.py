"""The studio's poke path of Generative Image Dynamics at 256x160 for the speed benchmark, while
no dynamics model of that size is trained: the real adapter's ``poke_state`` / ``stream_poke``
(the modal simulation and the renderer of ``kinema.methods.dynamics``) on an ``ImageRenderer``
with the small preset's widths (untrained: its cost does not depend on its weights), fed the
ground-truth spectral volume of a ``swaying`` test clip (256 px, rows 48..207) and that clip's
first frame instead of a sampled one. Served as the ``dynamics`` family's adapter by the soak
test's studio process (``poke`` only)."""
from __future__ import annotations

from functools import lru_cache

TABS = ("poke",)
PERIOD = 32


def accepts(entry) -> bool:
    return entry.name == "dynamics-render"


def summarize(config: dict) -> dict:
    h, w = config["image_size"]
    return {"shape": [h, w], "channels": 3}


def load(folder):
    from kinema.pretrained import load_pretrained

    return load_pretrained(folder).eval()


@lru_cache(maxsize=1)
def clip():
    from kinema.data import load_dataset

    item = load_dataset("swaying", "test", num_videos=1, num_frames=PERIOD, size=256)[0]
    return item["video"][:1, :, 48:208], item["spectral_volume"][..., 48:208, :]   # (1 3 160 256), (k 4 160 256)


def state(served):
    from kinema.serve.adapters.dynamics import poke_state

    if not hasattr(served, "bench_state"):
        image, volume = clip()
        served.bench_state = poke_state(served.load(), image, volume, PERIOD)
    return served.bench_state


def prepare(served, payload, catalogue) -> dict:
    picture = payload.text("picture", required=True)
    payload.done()
    state(served)
    return {"picture": picture}


def poke(served, payload, catalogue):
    from kinema.serve.adapters.dynamics import stream_poke
    from kinema.serve.poke import poke_fields

    request = poke_fields(payload, catalogue)
    return stream_poke(served.load(), state(served), request)
