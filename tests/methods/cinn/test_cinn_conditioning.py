"""The cINN's conditioning paths use the inputs the paper says (Sec. 3.2, 3.4, appendix A.5):

- training (Eq. (8)): the flow T^-1(z; x0, eta) is conditioned on the clip's own frame 0,
- sampling: z = T(nu; x0, eta) with the given x0, decoded by p_psi(X | x0, z),
- motion transfer: nu~ = T^-1(q_phi(X~); x~0) with the SOURCE's own first frame x~0, then
  decoded on each new image with that image as the condition,
- video-to-video: nu~ under the source eta, decoded under the new eta.

Built from untrained stages with random coupling weights (zero-initialised couplings would
make the flow the identity and every condition invisible).
"""
import pytest
import torch

from kinema.methods.cinn.config import AutoencoderConfig, FlowConfig, ImageEncoderConfig
from kinema.methods.cinn.losses import flow_nll
from kinema.methods.cinn.model import CINN

BINS = 4


@pytest.fixture(scope="module")
def flow():
    torch.manual_seed(0)
    video = AutoencoderConfig(channels=1, image_size=8, num_frames=4, z_dim=6, encoder_widths=(4, 4),
                              encoder_time_downsample=1, decoder_widths=(4, 4), decoder_time_upsample=1,
                              spade_hidden=4, patch_widths=(4,), temporal_widths=(4,))
    image = ImageEncoderConfig(channels=1, image_size=8, code_dim=5, widths=(4, 4))
    model = CINN(FlowConfig(autoencoder=video, image_encoder=image, control_bins=BINS, blocks=2,
                            hidden=8))
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for name, p in model.flow.named_parameters():
            if "subnet" in name:
                p.copy_(torch.randn(p.shape, generator=g) * 0.3)
    return model.eval()


def clips(seed: int, b: int = 3) -> torch.Tensor:
    """(b 4 1 8 8) clips in [-1, 1] whose frames all differ."""
    return torch.rand(b, 4, 1, 8, 8, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def recorded_conditions(flow, monkeypatch):
    """Every condition the flow's INN receives, in order."""
    seen = []
    to_residual = flow.flow.to_residual

    def spy(z, cond=None):
        seen.append((z.clone(), cond.clone()))
        return to_residual(z, cond)

    monkeypatch.setattr(flow.flow, "to_residual", spy)
    return seen


def test_training_conditions_the_flow_on_the_clips_frame_0(flow, monkeypatch):
    seen = recorded_conditions(flow, monkeypatch)
    video, eta = clips(0), torch.tensor([0, 3, 1])
    flow.training_step({"video": video, "eta": eta}, "flow")
    changed_later = video.clone()
    changed_later[:, 3] = -changed_later[:, 3]                   # frame 3: another clip, same start
    flow.training_step({"video": changed_later, "eta": eta}, "flow")
    changed_start = video.clone()
    changed_start[:, 0] = -changed_start[:, 0]                   # frame 0 only
    flow.training_step({"video": changed_start, "eta": eta}, "flow")
    (z, cond), (z_later, cond_later), (_, cond_start) = seen
    # the condition is [image code of x0, one-hot eta], x0 = frame 0 of each clip
    want = torch.cat([flow.image_encoder.encode(video[:, 0]), torch.eye(BINS)[eta]], 1)
    assert torch.allclose(cond, want, atol=1e-6)
    assert torch.equal(cond_later, cond)                         # frame 3 is no part of it ...
    assert (z_later - z).abs().max() > 1e-3                      # ... though it is part of z
    assert (cond_start - cond).abs()[:, :-BINS].amax(1).min() > 1e-4   # frame 0 is, for every clip
    assert torch.equal(cond_start[:, -BINS:], cond[:, -BINS:])


def test_training_loss_is_eq_8_of_the_encoded_clip_under_its_condition(flow):
    video, eta = clips(1), torch.tensor([2, 2, 0])
    torch.manual_seed(5)
    loss = flow.training_step({"video": video, "eta": eta}, "flow")["loss"]
    torch.manual_seed(5)
    mu, logvar = flow.video_encoder(video)
    z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)      # z ~ q_phi(z|X)
    cond = torch.cat([flow.image_encoder.encode(video[:, 0]), torch.eye(BINS)[eta]], 1)
    nu, logdet = flow.flow.to_residual(z, cond)
    assert loss.item() == pytest.approx(flow_nll(nu, logdet).item(), abs=1e-6)


def test_sampling_decodes_z_of_nu_under_the_given_x0(flow):
    x0, eta = clips(2)[:, 0], torch.tensor([1, 0, 3])
    videos = flow.sample(x0, 4, 2, eta, torch.Generator().manual_seed(3))        # (b n t c h w)
    nu = torch.randn(6, 6, generator=torch.Generator().manual_seed(3))          # (b n) d
    starts = x0.repeat_interleave(2, 0)
    cond = torch.cat([flow.image_encoder.encode(starts), torch.eye(BINS)[eta.repeat_interleave(2)]], 1)
    z = flow.flow.to_code(nu, cond)[0]
    decoded = flow.video_decoder(starts, z)
    assert torch.allclose(videos.flatten(0, 1)[:, 1:], decoded[:, 1:], atol=1e-5)
    assert torch.equal(videos[:, :, 0], x0[:, None].expand(-1, 2, -1, -1, -1))


def test_transfer_encodes_the_residual_with_the_sources_own_first_frame(flow):
    from kinema.methods.cinn.apps import transfer_motion

    source, images = clips(3, b=1), clips(4)[:, 0]               # one source clip, three new images
    assert (source[:, 0] - images).abs().amax(dim=(1, 2, 3)).min() > 0.1
    moved = transfer_motion(flow, source, images, source_control=torch.tensor([2]),
                            control=torch.tensor([1, 1, 3]))
    mu, _ = flow.video_encoder(source)                           # q_phi's mean code of X~
    source_cond = torch.cat([flow.image_encoder.encode(source[:, 0]), torch.eye(BINS)[[2]]], 1)
    nu = flow.flow.to_residual(mu, source_cond)[0].expand(3, -1)  # nu~ = T^-1(z~; x~0, eta~)
    cond = torch.cat([flow.image_encoder.encode(images), torch.eye(BINS)[[1, 1, 3]]], 1)
    want = flow.video_decoder(images, flow.flow.to_code(nu, cond)[0])
    assert torch.allclose(moved[:, 1:], want[:, 1:], atol=1e-5)
    assert torch.equal(moved[:, 0], images)
    # the source's frame 0 is the condition of nu~: changing only it changes every transfer,
    # changing one of the new images changes only that image's video
    other_start = source.clone()
    other_start[:, 0] = -other_start[:, 0]
    moved_start = transfer_motion(flow, other_start, images, torch.tensor([2]), torch.tensor([1, 1, 3]))
    assert (moved_start - moved)[:, 1:].abs().amax(dim=(1, 2, 3, 4)).min() > 1e-4
    other_images = images.clone()
    other_images[1] = -other_images[1]
    moved_image = transfer_motion(flow, source, other_images, torch.tensor([2]), torch.tensor([1, 1, 3]))
    assert torch.allclose(moved_image[[0, 2]], moved[[0, 2]], atol=1e-6) and (moved_image[1] - moved[1]).abs().max() > 1e-4


def test_video_to_video_keeps_the_residual_and_changes_only_eta(flow):
    from kinema.methods.cinn.apps import video_to_video

    video = clips(5, b=2)
    out = video_to_video(flow, video, torch.tensor([0, 1]), torch.tensor([3, 2]))
    mu, _ = flow.video_encoder(video)
    code = flow.image_encoder.encode(video[:, 0])
    nu = flow.flow.to_residual(mu, torch.cat([code, torch.eye(BINS)[[0, 1]]], 1))[0]
    z = flow.flow.to_code(nu, torch.cat([code, torch.eye(BINS)[[3, 2]]], 1))[0]
    want = flow.video_decoder(video[:, 0], z)
    assert torch.allclose(out[:, 1:], want[:, 1:], atol=1e-5) and torch.equal(out[:, 0], video[:, 0])
    # keeping eta reproduces the encoder's code: the decoder's reconstruction of the clip
    same = video_to_video(flow, video, torch.tensor([0, 1]), torch.tensor([0, 1]))
    assert torch.allclose(same[:, 1:], flow.video_decoder(video[:, 0], mu)[:, 1:], atol=1e-4)
