"""kinema: video synthesis by separating content from motion.

Methods, each a registered family of training stages (``kinema methods`` lists them with
their tasks and presets): the cINN image-to-video model (``cinn-*``), Generative Image
Dynamics (``dynamics-*``), the Invertible Linear Embedding (``ile``), GenDeF (``gendef-*``), a
latent temporal GAN (``latentgan-*``) and classical baselines (``baselines.*``), behind one
data layer, one trainer, one evaluation protocol and one command line (``kinema -h``).

From Python:

- ``kinema.pipelines.load(path)``: a trained run or model folder as a pipeline of its task
  (image-to-video, prediction, generation) returning frames you can save;
- ``kinema.data.load_dataset(name, split, **options)``: datasets of ``(t c h w)`` clips;
- ``kinema.pretrained.load_pretrained(path)``: the model itself (``config.json`` +
  ``model.safetensors``);
- ``kinema.train.recipes.build_recipe`` / ``kinema.train.recipes.train_recipe``: what
  ``kinema train`` does.

Heavy libraries (diffusers, FrEIA, OpenCV) are imported lazily, inside the functions that
need them.
"""

__version__ = "0.1.0"
