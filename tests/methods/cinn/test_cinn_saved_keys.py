"""A cINN autoencoder saved before the GAN pieces moved to kinema/nn still loads: its
state-dict keys and shapes are the ones written down by the code of then."""
from pathlib import Path

from kinema.methods.cinn.autoencoder import VideoAutoencoder
from kinema.methods.cinn.config import AutoencoderConfig


def read_keys(path: Path) -> dict[str, tuple[int, ...]]:
    keys = {}
    for line in path.read_text().splitlines():
        if line and not line.startswith("#"):
            name, shape = line.split(" ", 1)
            keys[name] = tuple(int(s) for s in shape.strip("()").split(",") if s.strip())
    return keys


def test_autoencoder_state_dict_keys_and_shapes_are_those_saved_before_the_move():
    config = AutoencoderConfig(channels=1, image_size=8, num_frames=4, z_dim=8, encoder_widths=(8, 8),
                               encoder_time_downsample=1, decoder_widths=(8, 8), decoder_time_upsample=1,
                               spade_hidden=8, patch_widths=(8, 8), temporal_widths=(8, 8))
    model = VideoAutoencoder(config)
    now = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    before = read_keys(Path(__file__).with_name("autoencoder_state_keys.txt"))
    assert any(k.startswith("frame_discriminator.") for k in before)
    assert any(k.startswith("clip_discriminator.") for k in before)
    assert now == before
