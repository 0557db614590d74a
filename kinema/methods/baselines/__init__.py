"""Honest reference methods, so every pipeline can be tested before (and against) the papers'
methods: repeat-last-frame, the linear dynamic texture (Doretto et al. 2003), and the
multi-scale adversarial predictor of Mathieu, Couprie & LeCun (2015).

Training: ``baselines.mathieu`` is trained by the Trainer (``parameter_groups`` /
``training_step``). ``baselines.repeat-last`` and ``baselines.dynamic-texture`` have nothing to
optimise: they are fitted in closed form by ``model.fit(dataset, max_clips=None,
progress=True)`` and then saved with ``save_pretrained``.

Registration only; the modules are imported when a method is used.
"""
from kinema.registry import MethodEntry, register_method

_HERE = "kinema.methods.baselines"

register_method(MethodEntry(
    name="baselines.repeat-last",
    model_class=f"{_HERE}.repeat_last:RepeatLastFrame",
    recipe=f"{_HERE}.config:repeat_last_recipe",
    tasks=("Prediction", "ImageToVideo", "Generation"),
    presets=("tiny", "small", "paper"),
    summary="repeat the last frame (generation: a still frame from a fitted bank)",
))
register_method(MethodEntry(
    name="baselines.dynamic-texture",
    model_class=f"{_HERE}.dynamic_texture:LinearDynamicTexture",
    recipe=f"{_HERE}.config:dynamic_texture_recipe",
    tasks=("Prediction", "ImageToVideo", "Generation"),
    presets=("tiny", "small", "paper"),
    summary="linear dynamic texture: PCA + least-squares LDS, Gaussian innovations "
            "(Doretto et al. 2003; fitted in closed form)",
    benchmarks={"baselines": f"{_HERE}.bench:baselines_benchmark"},   # with repeat-last
    demo=f"{_HERE}.demo:demo_section",          # repeat-last and the dynamic texture
    demo_order=10,
))
register_method(MethodEntry(
    name="baselines.mathieu",
    model_class=f"{_HERE}.adversarial:MathieuPredictor",
    recipe=f"{_HERE}.config:mathieu_recipe",
    tasks=("Prediction",),
    presets=("tiny", "small", "paper"),
    summary="multi-scale adversarial next-frame predictor, L2 + GDL + GAN loss "
            "(Mathieu et al. 2015)",
))
