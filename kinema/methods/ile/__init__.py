"""Invertible Linear Embedding (ILE): video prediction with an invertible network g_theta that
maps frames to embeddings following a latent linear dynamic system, trained by the paper's
flow objective (scale-invariant, not a normalised likelihood: see ``losses``).

Paper: ../shared/papers/invertible-linear-embedding.txt. Light module: registers the method
only; the model lives in ``kinema.methods.ile.model``.
"""
from kinema.registry import MethodEntry, register_method

register_method(MethodEntry(
    name="ile",
    model_class="kinema.methods.ile.model:ILE",
    recipe="kinema.methods.ile.config:recipe",
    tasks=("Prediction",),
    summary="invertible network + latent linear (real Jordan form) dynamics; scale-invariant flow objective; predicts future frames",
    benchmarks={"ile-bouncing-digits": "kinema.methods.ile.bench:ile_bouncing_digits_benchmark"},
    demo="kinema.methods.ile.demo:demo_section",
    demo_order=20,
    presets=("tiny", "small", "paper"),
))
