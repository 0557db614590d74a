"""The latent temporal GAN in the studio (``kinema.methods.latentgan.apps``): *Generate* — long
videos of one identity: the training actor, a random new actor (the offset trick, Sec. 3), or
the actor in the chosen picture; with the trajectory's first PCA coordinates over time (how a
loop shows) and the looping detector's verdict."""
from __future__ import annotations

from kinema.serve.jobs import Result
from kinema.serve.requests import ApiError, Payload

TABS = ("generate",)
MAX_VIDEOS = 4
MAX_FRAMES = 512
FPS = 12.0


def accepts(entry) -> bool:
    return entry.name == "latentgan-temporal"


def summarize(config: dict) -> dict:
    image = config["image"]
    side = image["resolution"]
    return {"shape": [side, side], "channels": image["channels"], "max_videos": MAX_VIDEOS,
            "max_frames": MAX_FRAMES}


def load(folder):
    from kinema.methods.latentgan.apps import load_model

    return load_model(folder)


def request(tab: str, p: Payload, served, catalogue):
    num = p.integer("num", 2, 1, MAX_VIDEOS)
    frames = p.integer("frames", 64, 2, MAX_FRAMES)
    seed = p.integer("seed", 0, 0, 2 ** 31)
    identity = p.text("identity", "training", choices=("training", "random", "picture"))
    picture_id = p.text("picture", None)
    if identity == "picture":
        if picture_id is None:
            raise ApiError(400, "identity 'picture' needs field 'picture' (the actor to animate)")
        catalogue.picture(picture_id)
    p.done()

    def work(progress) -> Result:
        import torch

        from kinema.methods.latentgan.apps import loop_summary, sample_videos, trajectory_plot

        progress(0.05, "loading the temporal GAN")
        model = served.load()
        progress(0.2, f"generating {num} trajectories of {frames} frames in W+")
        if identity == "picture":
            from kinema.data.pictures import frames_to_model

            with torch.no_grad():
                generator = torch.Generator().manual_seed(seed)
                ws, _ = model.trajectory(num, frames, generator)
                image = frames_to_model([catalogue.picture(picture_id)], model.image.channels,
                                        model.image.resolution).to(ws.device)
                ws = model.transfer(ws, model.identity_of(image).expand(num, -1, -1))
                videos = model.render(ws)
        else:
            videos, ws = sample_videos(model, num, frames, seed, "random" if identity == "random" else None)
        result = Result({"loops": []})
        for i in range(num):
            progress(0.6 + 0.4 * i / num, f"encoding video {i + 1} of {num}")
            result.add_video(videos[i], f"video {i + 1}: {frames} frames, {identity} identity", FPS)
            plot = trajectory_plot(model, ws[i], title=f"video {i + 1}: PCA of w over time")
            result.add_image(plot.encode(), f"video {i + 1}: first PCA coordinates of w_t",
                             "image/svg+xml")
            result.info["loops"].append(loop_summary(model, ws[i]))
        return result

    return work
