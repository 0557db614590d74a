"""GenDeF: video generation as a canonical image warped by generated deformation fields
(paper: ../shared/papers/gendef-deformation-field.txt). Two training stages, each a registered
method: ``gendef-image`` pre-trains the canonical generator G_c on single frames,
``gendef-video`` fine-tunes G_c with the deformation generator G_d on videos (its saved model
is the video generator). Light module: registers only.
"""
from kinema.registry import MethodEntry, register_method

register_method(MethodEntry(
    name="gendef-image",
    model_class="kinema.methods.gendef.model:CanonicalGAN",
    recipe="kinema.methods.gendef.config:image_recipe",
    tasks=(),
    summary="GenDeF stage 1: canonical image generator G_c (StyleGAN2) pre-trained on single frames",
    family="gendef",
    presets=("tiny", "small", "paper"),
))
register_method(MethodEntry(
    name="gendef-video",
    model_class="kinema.methods.gendef.model:GenDeF",
    recipe="kinema.methods.gendef.config:video_recipe",
    tasks=("Generation",),
    summary="GenDeF stage 2: canonical image + generated deformation fields (StyleGAN-V motion codes, L_reg); "
            "edit, track and segment through the canonical image",
    family="gendef",
    commands="kinema.methods.gendef.cli:register",
    apps={"sample": "kinema.methods.gendef.cli:sample"},
    benchmarks={"gendef-clouds": "kinema.methods.gendef.bench:clouds_benchmark",
                "gendef-actors": "kinema.methods.gendef.bench:actors_benchmark",
                "gendef-bikes": "kinema.methods.gendef.bench:bikes_benchmark"},
    demo="kinema.methods.gendef.demo:demo_section",
    demo_order=50,
    presets=("tiny", "small", "paper"),
))
