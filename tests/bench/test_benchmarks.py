import pytest

from kinema.bench import benchmarks
from kinema.errors import KinemaError


def test_unknown_benchmark_is_a_clear_error(tmp_path):
    with pytest.raises(KinemaError, match="unknown benchmark 'nope'; known: baselines"):
        benchmarks.run_benchmark("nope", tmp_path)
