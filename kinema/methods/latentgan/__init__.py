"""StyleVideoGAN: a temporal GAN in an image generator's W+ latent space (paper:
../shared/papers/stylevideogan-latent-temporal.txt). Three training stages, each a registered
method: ``latentgan-image`` (generator with W+ + encoder into W+), ``latentgan-embed`` (every
training frame into W+, cached), ``latentgan-temporal`` (the temporal WGAN; its saved model is
the video generator). Light module: registers only.
"""
from kinema.registry import MethodEntry, register_method

PRESETS = ("tiny", "small", "paper")

register_method(MethodEntry(
    name="latentgan-image",
    model_class="kinema.methods.latentgan.image:ImagePair",
    recipe="kinema.methods.latentgan.config:image_recipe",
    tasks=(),
    summary="StyleVideoGAN stage 1: StyleGAN2-style generator with W+ and an encoder into W+ (pSp's role)",
    family="latentgan",
    presets=PRESETS,
))
register_method(MethodEntry(
    name="latentgan-embed",
    model_class="kinema.methods.latentgan.embed:LatentEmbedding",
    recipe="kinema.methods.latentgan.config:embed_recipe",
    tasks=(),
    summary="StyleVideoGAN stage 2: every frame of the training videos into W+, cached on disk",
    family="latentgan",
    presets=PRESETS,
))
register_method(MethodEntry(
    name="latentgan-temporal",
    model_class="kinema.methods.latentgan.model:StyleVideoGAN",
    recipe="kinema.methods.latentgan.config:temporal_recipe",
    tasks=("Generation",),
    apps={"sample": "kinema.methods.latentgan.apps:sample"},
    benchmarks={"latentgan-actors": "kinema.methods.latentgan.bench:actors_benchmark",
                "latentgan-carphone": "kinema.methods.latentgan.bench:carphone_benchmark"},
    demo="kinema.methods.latentgan.demo:demo_section",
    demo_order=60,
    summary="StyleVideoGAN stage 3: recurrent WGAN-GP (+ gradient angle penalty) on W+ trajectories; generates any length, offset trick for new identities",
    family="latentgan",
    presets=PRESETS,
))
