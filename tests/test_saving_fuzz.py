"""Fuzzing: a mutated file loads or is refused with a ValueError naming it.

Hypothesis picks the file (``.numdl`` with safetensors or npz weights, a
``.weights.safetensors`` or ``.weights.npz`` file), the mutation (bytes
flipped, cut, inserted or overwritten; bytes inside a zip entry changed with
a valid CRC; a value in config.json or the safetensors header replaced) and
where. Any other exception, or a load slower than the bound, fails. The
mutations live in ``benchmarks/bench_saving.py``, which runs thousands.
"""

from __future__ import annotations

import time
import warnings
from collections import Counter

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from benchmarks.bench_saving import (
    KINDS,
    TARGETS,
    TIME_BOUND_S,
    file_name,
    load_outcome,
    mutate,
    small_model,
    valid_files,
)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("fuzz")
    model = small_model()
    return folder, model, valid_files(model, str(folder))


def test_mutated_files_load_or_are_refused(files):
    folder, model, valid = files
    outcomes: Counter[str] = Counter()

    @settings(
        max_examples=300,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=[HealthCheck.too_slow],
    )
    @given(
        target=st.sampled_from(TARGETS),
        kind=st.sampled_from(KINDS),
        position=st.integers(0, 2**31),
        payload=st.binary(min_size=1, max_size=16),
    )
    def check(target, kind, position, payload):
        path = folder / file_name(target)
        path.write_bytes(mutate(valid[target], kind, position, payload))
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            outcomes[load_outcome(str(path), target, model)] += 1
        assert time.perf_counter() - start < TIME_BOUND_S

    check()
    # Both outcomes occurred: the mutations are neither all fatal nor all inert.
    assert outcomes["refused"] > 100 and outcomes["loaded"] > 5, outcomes


def test_valid_files_load(files):
    folder, model, valid = files
    for target in TARGETS:
        path = folder / file_name(target)
        path.write_bytes(valid[target])
        assert load_outcome(str(path), target, model) == "loaded"
