"""Invertible Linear Embedding (ILE): video prediction with exact likelihood — an invertible
network g_theta maps frames to embeddings that follow a latent linear dynamic system.

Paper: ../shared/papers/invertible-linear-embedding.txt. Light module: registers the method
only; the model lives in ``kinema.methods.ile.model``.
"""
from kinema.registry import MethodEntry, register_method

register_method(MethodEntry(
    name="ile",
    model_class="kinema.methods.ile.model:ILE",
    recipe="kinema.methods.ile.config:recipe",
    tasks=("Prediction",),
    summary="invertible network + latent linear (real Jordan form) dynamics; exact NLL; predicts future frames",
    benchmarks={"ile-bouncing-digits": "kinema.methods.ile.bench:ile_bouncing_digits_benchmark"},
    demo="kinema.methods.ile.demo:demo_section",
    demo_order=20,
))
