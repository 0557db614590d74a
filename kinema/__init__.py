"""kinema: video synthesis by separating content from motion.

Five methods (cINN image-to-video, Generative Image Dynamics, the Invertible Linear
Embedding, GenDeF, a latent temporal GAN) behind one data layer, one trainer, one
evaluation protocol and one command line. Heavy libraries are imported lazily.
"""

__version__ = "0.1.0"
