"""StyleVideoGAN: a temporal GAN in an image generator's W+ latent space (paper:
../shared/papers/stylevideogan-latent-temporal.txt). Light module: registers only.
"""
