"""The cINN: stochastic, controllable image-to-video synthesis with a conditional invertible
network (paper: ../shared/papers/cinn-stochastic-image-to-video.txt). Three training stages,
each a registered method: ``cinn-autoencoder`` (video autoencoder + discriminators),
``cinn-image-encoder`` (the code of x0), ``cinn-flow`` (the cINN; its saved model is the
image-to-video sampler). Light module: registers only.
"""
from kinema.registry import MethodEntry, register_method

# base presets (config.BASES); each takes a dataset and variant suffix: small-clouds-control
_PRESETS = ("tiny", "small", "bench", "paper")

register_method(MethodEntry(
    name="cinn-autoencoder",
    model_class="kinema.methods.cinn.autoencoder:VideoAutoencoder",
    recipe="kinema.methods.cinn.config:autoencoder_recipe",
    tasks=(),
    family="cinn",
    presets=_PRESETS,
    summary="cINN stage 1: video autoencoder q(z|X), p(X|x0,z) with SPADE/AdaIN, D_S and D_T",
))
register_method(MethodEntry(
    name="cinn-image-encoder",
    model_class="kinema.methods.cinn.image_encoder:ImageAutoencoder",
    recipe="kinema.methods.cinn.config:image_encoder_recipe",
    tasks=(),
    family="cinn",
    presets=_PRESETS,
    summary="cINN stage 2: image autoencoder whose code conditions the flow on x0",
))
register_method(MethodEntry(
    name="cinn-flow",
    model_class="kinema.methods.cinn.model:CINN",
    recipe="kinema.methods.cinn.config:flow_recipe",
    tasks=("ImageToVideo",),
    summary="cINN stage 3: conditional INN z = T(nu; x0, eta), exact NLL; stochastic, controllable image-to-video",
    family="cinn",
    presets=_PRESETS,
    commands="kinema.methods.cinn.cli:register",          # kinema transfer
    apps={"animate": "kinema.methods.cinn.cli:animate"},
    benchmarks={"cinn-bouncing-digits": "kinema.methods.cinn.bench:digits_benchmark",
                "cinn-clouds": "kinema.methods.cinn.bench:clouds_benchmark"},
    demo="kinema.methods.cinn.demo:demo_section",
    demo_order=30,
))
