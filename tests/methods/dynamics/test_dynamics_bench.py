"""The dynamics benchmarks' inputs: the swaying benchmark needs the trained full model and says
how to make it; the loop study uses a length that is not a whole period."""
import pytest

from kinema.errors import KinemaError
from kinema.methods.dynamics.bench import smooth_motion
from kinema.methods.dynamics.bench_swaying import loop_frames, swaying_benchmark


def test_swaying_benchmark_names_the_missing_training(tmp_path):
    with pytest.raises(KinemaError, match="dynamics-attention-small.*--preset small"):
        swaying_benchmark(tmp_path / "out", runs=tmp_path / "runs", preset="small")
    assert not (tmp_path / "out").exists()


def test_loop_study_length_is_three_quarters_of_a_period():
    assert loop_frames(32) == 24 and loop_frames(150) == 112 and loop_frames(2) == 2


def test_benchmark_motion_is_smooth_and_oscillating():
    motion = smooth_motion(30, size=(16, 24))
    assert motion.shape == (1, 30, 2, 16, 24)
    assert motion[0, 0, 0].abs().max() == 0                   # dx: sin(0) at t = 0
    assert motion[0, 15, 0].abs().max() < 1e-4                # half a period later: back through zero
