"""channels_last_3d: the cINN autoencoder (3D convolutions, spectral norm, both discriminators)
computes the same losses and gradients in the channels-last 3D layout as in the plain one."""
import torch

from kinema.methods.cinn.autoencoder import VideoAutoencoder
from kinema.methods.cinn.config import autoencoder_config
from kinema.nn.video3d import channels_last_3d


def _model():
    torch.manual_seed(0)
    model = VideoAutoencoder(autoencoder_config("tiny"))
    model.generator_steps.fill_(model.config.gan_start)      # adversarial terms on
    return model


def test_channels_last_3d_gives_the_plain_layouts_losses_and_gradients():
    plain, last = _model(), channels_last_3d(_model())
    weights = [p for p in last.parameters() if p.ndim == 5]
    assert weights and all(w.is_contiguous(memory_format=torch.channels_last_3d) for w in weights)
    assert any(not w.is_contiguous() for w in weights)           # the layout did change
    c = plain.config
    video = torch.rand(2, c.num_frames, c.channels, c.image_size, c.image_size,
                       generator=torch.Generator().manual_seed(1)) * 2 - 1
    for group in ("discriminator", "generator"):
        results = []
        for model in (plain, last):
            model.zero_grad(set_to_none=True)
            torch.manual_seed(5)                     # the same posterior noise
            loss = model.training_step({"video": video}, group)["loss"]
            loss.backward()
            results.append((loss.detach(), [p.grad for p in model.parameter_groups()[group]]))
        (loss_a, grads_a), (loss_b, grads_b) = results
        assert torch.allclose(loss_a, loss_b, rtol=1e-5, atol=1e-6), group
        assert sum(g is not None for g in grads_a) > 5
        for a, b in zip(grads_a, grads_b):
            assert (a is None) == (b is None)
            if a is not None:
                assert torch.allclose(a, b, rtol=1e-4, atol=1e-6), group
