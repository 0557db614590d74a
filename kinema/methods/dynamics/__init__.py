"""Generative Image Dynamics: one picture -> a spectral volume of its motion -> a looping,
slow-motion, magnified or poked video (paper: ../shared/papers/generative-image-dynamics.txt).

Training stages, each a registered method (family ``dynamics``): ``dynamics-vae`` (the
spectral-volume autoencoder), ``dynamics-diffusion`` (stage A: one frequency slice at a time),
``dynamics-attention`` (stage B: frequency-coordinated denoising), ``dynamics-render`` (the
image-based renderer). Light module: registers only.
"""
from kinema.registry import MethodEntry, register_method

register_method(MethodEntry(
    name="dynamics-vae",
    model_class="kinema.methods.dynamics.vae:SpectralVAE",
    recipe="kinema.methods.dynamics.config:vae_recipe",
    tasks=(),
    summary="GID stage 1: spectral-volume autoencoder (AutoencoderKL, 4-channel latent; L1 + gradient + KL)",
    family="dynamics",
    presets=("tiny", "small", "small150", "paper"),
))
register_method(MethodEntry(
    name="dynamics-diffusion",
    model_class="kinema.methods.dynamics.diffusion:FrequencyDiffusion",
    recipe="kinema.methods.dynamics.config:diffusion_recipe",
    tasks=(),
    summary="GID stage A: latent U-Net denoising one frequency slice (frequency embedding, I0 concatenated, CFG)",
    family="dynamics",
    presets=("tiny", "small", "small150", "paper"),
))
register_method(MethodEntry(
    name="dynamics-attention",
    model_class="kinema.methods.dynamics.attention:FrequencyCoordinatedDiffusion",
    recipe="kinema.methods.dynamics.config:attention_recipe",
    tasks=(),
    summary="GID stage B: stage A frozen + attention across the K frequency slices (frequency-coordinated denoising)",
    family="dynamics",
    presets=("tiny", "small", "small150", "paper"),
))
register_method(MethodEntry(
    name="dynamics-render",
    model_class="kinema.methods.dynamics.render:ImageRenderer",
    recipe="kinema.methods.dynamics.config:render_recipe",
    tasks=("ImageToVideo",),
    summary="GID rendering (Sec. 5): feature pyramid + softmax splatting by F_t + synthesis decoder; embeds the motion model",
    family="dynamics",
    commands="kinema.methods.dynamics.cli:register",
    apps={"animate": "kinema.methods.dynamics.cli:animate"},
    benchmarks={"dynamics-speed": "kinema.methods.dynamics.bench:speed_benchmark",
                "dynamics-swaying": "kinema.methods.dynamics.bench_swaying:swaying_benchmark",
                "dynamics-real": "kinema.methods.dynamics.bench_real:real_benchmark",
                "dynamics-render-real": "kinema.methods.dynamics.bench_render_real:render_real_benchmark",
                "dynamics-loops": "kinema.methods.dynamics.bench_swaying:loops_benchmark",
                "dynamics-oracle": "kinema.methods.dynamics.bench_oracle:oracle_benchmark",
                "dynamics-table2": "kinema.methods.dynamics.bench_table2:table2_benchmark"},
    demo="kinema.methods.dynamics.demo:demo_section",
    demo_order=40,
    # small-real: the renderer alone trained on real footage (config.REAL_VARIANT), besides the
    # renderers of the motion presets
    presets=("tiny", "small", "small-real", "small150", "paper"),
))
