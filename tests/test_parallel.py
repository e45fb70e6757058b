"""numdl.parallel: ops split over numdl's threads give the same results."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from threadpoolctl import threadpool_info

import numdl
from numdl import parallel
from numdl.ops import conv as conv_ops
from numdl.ops import nn, pool

# numdl's threads split host (NumPy) work: these tests run on the CPU even
# when the suite runs with NUMDL_BACKEND=cupy.
pytestmark = pytest.mark.usefixtures("cpu")


@pytest.fixture(params=[2, 3])
def threads(request):
    before = parallel.get_num_threads()
    parallel.set_num_threads(request.param)
    yield request.param
    parallel.set_num_threads(before)


@pytest.fixture
def count_parts(monkeypatch):
    """Record how many parts each parallel.run call computed."""
    calls: list[int] = []
    run = parallel.run

    def counting(fn, parts, n):
        calls.append(1 if parts is None else len(parts))
        return run(fn, parts, n)

    monkeypatch.setattr(parallel, "run", counting)
    return calls


def _blas_threads() -> list[int]:
    return [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]


def test_split_covers_the_batch_in_order(threads):
    with parallel.region():
        guided = parallel.split(101, cost=1e12)
        even = parallel.split(101, cost=1e12, guided=False)
        again = parallel.split(101, cost=1e12)
        few = parallel.split(101, cost=3 * parallel.MIN_COST)
    for parts in (guided, even, few):
        assert parts[0].start == 0 and parts[-1].stop == 101
        assert all(a.stop == b.start for a, b in zip(parts, parts[1:]))
    assert len(even) == threads
    sizes = [p.stop - p.start for p in guided]
    # Guided: each part half of what is left over the threads, never below
    # 1/(8 * threads) of the batch (the last one may hold the rest).
    assert sizes[0] == -(-101 // (2 * threads)) and sizes == sorted(sizes)[::-1]
    assert min(sizes[:-1]) >= -(-101 // (8 * threads)) and len(guided) > threads
    assert guided == again  # the same parts every time, whatever the timing
    # Little work: no part below MIN_COST / 2 (here 6 at most, of 17 or more).
    assert len(few) <= 6 and all(p.stop - p.start >= 17 for p in few[:-1])


def test_split_declines_small_work_and_outside_a_region(threads):
    assert parallel.split(100, cost=1e12) is None  # not in a region
    with parallel.region():
        assert parallel.split(100, cost=parallel.MIN_COST / 2) is None
        assert parallel.split(1, cost=1e12) is None


def test_a_split_puts_blas_on_one_thread_until_the_region_ends(threads):
    before = _blas_threads()
    with parallel.region() as on:
        assert on is True
        assert _blas_threads() == before  # untouched until an op splits
        assert parallel.split(100, cost=1e12, lead=False) is None
        assert parallel.split(100, cost=1e12) is not None
        assert _blas_threads() == [1] * len(before)
        with parallel.region():  # nested: ends without restoring
            pass
        assert _blas_threads() == [1] * len(before)
        assert parallel.split(100, cost=1e12, lead=False) is not None
    assert _blas_threads() == before


def test_one_thread_leaves_blas_alone():
    before = parallel.get_num_threads()
    parallel.set_num_threads(1)
    try:
        with parallel.region() as on:
            assert on is False
            assert parallel.split(100, cost=1e12) is None
    finally:
        parallel.set_num_threads(before)


def test_run_computes_given_parts_with_one_thread():
    # split() never gives parts with one thread, but run() takes them from
    # any caller (a pool of at least one worker; on a 1-CPU machine the
    # default is one thread).
    before = parallel.get_num_threads()
    parallel.set_num_threads(1)
    try:
        parts = [slice(0, 2), slice(2, 3), slice(3, 5)]
        assert parallel.run(lambda s: s.stop - s.start, parts, 5) == [2, 1, 2]
    finally:
        parallel.set_num_threads(before)


def test_run_uses_other_threads_and_returns_in_order(threads):
    names = []
    # Every part waits for all the others: they can only all finish if each
    # ran on its own thread at the same time.
    together = threading.Barrier(threads, timeout=10)

    def work(s):
        names.append(threading.current_thread().name)
        together.wait()
        return s.start

    parts = [slice(i, i + 1) for i in range(threads)]
    assert parallel.run(work, parts, threads) == list(range(threads))
    assert len(set(names)) == threads and threading.current_thread().name in names
    assert sum(n.startswith("numdl") for n in names) == threads - 1


def test_run_hands_parts_to_whichever_thread_is_free(threads):
    # Whichever thread takes part 0 is held up there: the other threads
    # take every other part, and the results still come in part order.
    done_by = {}
    release = threading.Event()

    def work(s):
        done_by[s.start] = threading.current_thread().name
        if s.start == 0:
            release.wait(timeout=10)
        elif len(done_by) == 40:
            release.set()
        return s.start * 2

    parts = [slice(i, i + 1) for i in range(40)]
    assert parallel.run(work, parts, 40) == [2 * i for i in range(40)]
    assert all(done_by[i] != done_by[0] for i in range(1, 40))


def test_the_calling_thread_takes_more_parts_while_workers_are_busy(threads):
    # Workers are held up until the calling thread has computed 3 parts:
    # with parts taken as threads come free, it takes them one after another.
    here = threading.current_thread().name
    by_caller = []
    enough = threading.Event()

    def work(s):
        if threading.current_thread().name == here:
            by_caller.append(s.start)
            if len(by_caller) == 3:
                enough.set()
        else:
            enough.wait(timeout=5)
        return s.start

    parts = [slice(i, i + 1) for i in range(4 * threads)]
    assert parallel.run(work, parts, 4 * threads) == list(range(4 * threads))
    assert len(by_caller) >= 3


def test_run_reraises_a_worker_error_after_every_part_ends(threads):
    finished = []

    def work(s):
        if s.start == 1:
            raise ValueError("part 1 failed")
        finished.append(s.start)

    with pytest.raises(ValueError, match="part 1 failed"):
        parallel.run(work, [slice(i, i + 1) for i in range(threads)], threads)
    assert 0 in finished


def test_run_starts_no_part_after_an_error_and_waits_for_started_ones(threads):
    started, finished = set(), set()

    def work(s):
        started.add(s.start)
        if s.start == 0:
            raise ValueError("part 0 failed")
        time.sleep(0.01)
        finished.add(s.start)

    with pytest.raises(ValueError, match="part 0 failed"):
        parallel.run(work, [slice(i, i + 1) for i in range(50)], 50)
    assert started - {0} == finished  # none still running when run() raised
    assert len(started) < 50  # the error stopped the threads taking parts


def test_set_num_threads_rejects_bad_values():
    with pytest.raises(ValueError, match="set_num_threads: expected an int >= 1"):
        parallel.set_num_threads(0)
    with pytest.raises(ValueError, match="got 2.0"):
        parallel.set_num_threads(2.0)


def _grads(fn, *arrays):
    """Forward value and gradients of sum(fn(...) * weights) w.r.t. arrays."""
    tensors = [numdl.tensor(a, requires_grad=True) for a in arrays]
    out = fn(*tensors)
    weights = np.random.default_rng(1).standard_normal(out.shape)
    (out * numdl.tensor(weights)).sum().backward()
    return [out.data] + [t.grad for t in tensors]


def _same_in_parts(fn, arrays, count_parts):
    whole = _grads(fn, *arrays)
    assert max(count_parts, default=1) == 1
    with parallel.region():
        split = _grads(fn, *arrays)
    assert max(count_parts) > 1  # the split path ran
    for a, b in zip(whole, split):
        np.testing.assert_allclose(b, a, rtol=1e-12, atol=1e-12)


def test_conv_relu_in_parts_equals_whole(threads, count_parts, float64):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((16, 24, 23, 8))
    kernel, bias = rng.standard_normal((3, 3, 8, 16)), rng.standard_normal(16)

    def fn(x, k, b):
        return conv_ops.conv(x, k, bias=b, padding="same", relu=True)

    _same_in_parts(fn, [x, kernel, bias], count_parts)


def test_one_channel_conv_in_parts_equals_whole(threads, count_parts, float64):
    """One input channel: the columns are stored transposed, each part
    writing its own rows of them."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((24, 28, 28, 1))
    kernel, bias = rng.standard_normal((3, 3, 1, 16)), rng.standard_normal(16)

    def fn(x, k, b):
        return conv_ops.conv(x, k, bias=b, relu=True)

    _same_in_parts(fn, [x, kernel, bias], count_parts)


def test_strided_conv_in_parts_equals_whole(threads, count_parts, float64):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((15, 31, 29, 8))
    kernel = rng.standard_normal((3, 2, 8, 32))

    def fn(x, k):
        return conv_ops.conv(x, k, strides=2, dilation_rate=(1, 2))

    _same_in_parts(fn, [x, kernel], count_parts)


def test_conv_inference_in_parts_equals_whole(threads, count_parts, float64):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((16, 24, 23, 8))
    kernel = rng.standard_normal((3, 3, 8, 16))
    whole = conv_ops.conv(x, kernel)
    with parallel.region():
        split = conv_ops.conv(x, kernel)
    assert max(count_parts) > 1
    np.testing.assert_allclose(split.data, whole.data, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("size,strides", [(2, None), (3, 2)])
def test_max_pool_in_parts_equals_whole(threads, count_parts, float64, size, strides):
    x = np.random.default_rng(0).standard_normal((17, 48, 48, 16))
    x[:, ::3, ::3] = 0.5  # ties
    _same_in_parts(lambda t: pool.max_pool(t, size, strides), [x], count_parts)


def test_dense_relu_in_parts_equals_whole(threads, count_parts, float64):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((67, 300))
    kernel, bias = rng.standard_normal((300, 200)), rng.standard_normal(200)

    def fn(x, k, b):
        parallel.split(2, cost=1e12)  # as a convolution before it would
        return nn.dense(x, k, b, relu=True)

    _same_in_parts(fn, [x, kernel, bias], count_parts)


def test_dense_alone_leaves_threading_to_blas(threads, count_parts):
    before = _blas_threads()
    x, kernel = np.ones((256, 512)), np.ones((512, 256))
    with parallel.region():
        nn.dense(numdl.tensor(x, requires_grad=True), kernel)
        assert _blas_threads() == before
    assert count_parts == [] or max(count_parts) == 1


def test_fit_in_parts_matches_one_thread(float64):
    """A convnet trained by fit: 2 threads (split ops) vs 1 (BLAS alone)."""

    def train(threads: int) -> list[np.ndarray]:
        before = parallel.get_num_threads()
        parallel.set_num_threads(threads)
        try:
            numdl.utils.set_random_seed(0)
            model = numdl.Sequential(
                [
                    numdl.Input((14, 14, 3)),
                    numdl.layers.Conv2D(8, 3, activation="relu"),
                    numdl.layers.MaxPooling2D(2),
                    numdl.layers.Flatten(),
                    numdl.layers.Dense(64, activation="relu"),
                    numdl.layers.Dense(4),
                ]
            )
            model.compile("adam", numdl.losses.SparseCategoricalCrossentropy(True))
            rng = np.random.default_rng(0)
            x, y = rng.standard_normal((96, 14, 14, 3)), rng.integers(0, 4, 96)
            model.fit(x, y, batch_size=48, epochs=2, shuffle=False, verbose=0)
            return model.get_weights()
        finally:
            parallel.set_num_threads(before)

    for a, b in zip(train(1), train(2)):
        np.testing.assert_allclose(b, a, rtol=1e-9, atol=1e-12)


def _split_sum_in_child(queue):
    with parallel.region():
        parts = parallel.split(1000, cost=1e12)
        queue.put(sum(parallel.run(lambda s: s.stop - s.start, parts, 1000)))


def test_a_forked_child_gets_its_own_worker_threads(threads):
    """After fork the parent's pool has no threads in the child: the child
    must make its own instead of waiting forever on the parent's."""
    import multiprocessing

    parallel.run(lambda s: None, [slice(0, 1), slice(1, 2)], 2)  # the pool exists
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=_split_sum_in_child, args=(queue,))
    child.start()
    child.join(timeout=20)
    alive = child.is_alive()
    if alive:
        child.kill()
    assert not alive, "the forked child hung on the parent's thread pool"
    assert queue.get(timeout=5) == 1000


def test_work_inside_a_part_is_not_split_again(threads):
    """A split op called from a part runs there whole: in a worker's part
    (waiting on the worker's own pool could never end) and in the calling
    thread's (predict runs whole models in parts: their ops stay whole)."""
    seen = []

    def part(s):
        seen.append(parallel.split(100, cost=1e12))
        return s.start

    with parallel.region():
        parts = parallel.split(threads, cost=1e12)
        assert parallel.run(part, parts, threads) == list(range(threads))
    assert seen == [None] * threads
    with parallel.region():  # and after run() the calling thread splits again
        assert parallel.split(100, cost=1e12) is not None


def _blas_threads_in_child(queue):
    queue.put(_blas_threads())


def test_a_child_forked_inside_a_region_gets_blas_threads_back(threads):
    import multiprocessing

    before = _blas_threads()
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    with parallel.region():
        parallel.split(100, cost=1e12)  # BLAS on one thread from here
        child = context.Process(target=_blas_threads_in_child, args=(queue,))
        child.start()
    child.join(timeout=20)
    assert queue.get(timeout=5) == before


class _Sizes(numdl.layers.Layer):
    """An identity layer that records the batch sizes it is called on."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.seen: list[int] = []

    def call(self, inputs):
        self.seen.append(inputs.shape[0])
        return inputs


def _convnet(outputs: str = "tensor") -> numdl.Model:
    numdl.utils.set_random_seed(1)
    x = numdl.Input((16, 16, 3))
    h = numdl.layers.Conv2D(16, 3, activation="relu")(_Sizes(name="sizes")(x))
    h = numdl.layers.MaxPooling2D(2)(h)
    h = numdl.layers.BatchNormalization()(numdl.layers.Flatten()(h))
    y = numdl.layers.Dense(5)(numdl.layers.Dropout(0.5)(h))
    return numdl.Model(x, {"y": y} if outputs == "dict" else y)


def test_predict_runs_the_whole_model_on_parts_of_the_batch(threads, float64):
    # Once a batch's ops split, predict runs the whole model on one part of
    # the batch per thread (one split per batch, none inside); the results
    # are those of one thread.
    model = _convnet()
    sizes = model.get_layer("sizes").seen
    x = np.random.default_rng(0).standard_normal((64, 16, 16, 3))
    before = parallel.get_num_threads()
    parallel.set_num_threads(1)
    try:
        expected = model.predict_on_batch(x)
    finally:
        parallel.set_num_threads(threads)
    sizes.clear()
    first = model.predict_on_batch(x)  # its ops split: noted on the model
    assert sizes == [64] and model.__dict__["_predict_in_parts"]
    count = parallel.split_count()
    second = model.predict_on_batch(x)
    assert parallel.split_count() - count == 1  # the batch, not each op
    assert sorted(sizes[1:]) == sorted(b - a for a, b in _bounds(64, threads))
    out = model.predict(x, batch_size=32, verbose=0)
    parallel.set_num_threads(before)
    for got in (first, second, out):
        np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-14)


def _bounds(n: int, k: int) -> list[tuple[int, int]]:
    edges = [n * i // k for i in range(k + 1)]
    return list(zip(edges, edges[1:]))


def test_predict_in_parts_only_for_one_tensor_out(threads):
    model = _convnet("dict")
    sizes = model.get_layer("sizes").seen
    x = np.random.default_rng(0).standard_normal((64, 16, 16, 3)).astype("float32")
    sizes.clear()  # (building the graph ran it on dummy batches)
    model.predict_on_batch(x)
    model.predict_on_batch(x)
    assert not model.__dict__["_predict_in_parts"]
    assert sizes == [64, 64]  # whole batches (each op splits as before)


def test_layer_call_state_is_per_thread():
    # Nested layers inherit `training` from the outer call of their own
    # thread only (two threads call one model at once in predict).
    seen: dict[str, list] = {"a": [], "b": []}
    gate = threading.Barrier(2)

    class Probe(numdl.layers.Layer):
        def call(self, inputs, training=None):
            seen[threading.current_thread().name].append(training)
            gate.wait(timeout=5)
            return inputs

    class Outer(numdl.layers.Layer):
        def __init__(self):
            super().__init__()
            self.probe = Probe()

        def call(self, inputs):
            return self.probe(inputs)

    outer = Outer()
    x = np.ones((1, 2))
    threads = [
        threading.Thread(target=outer, args=(x,), kwargs={"training": t}, name=n)
        for n, t in (("a", True), ("b", False))
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10)
    assert seen == {"a": [True], "b": [False]}


def test_evaluate_runs_the_model_on_parts_and_keeps_its_losses(threads, float64):
    # evaluate (no gradient either) runs the model in parts too; a model whose
    # call adds losses (here an activity regularizer) is not split, so its
    # evaluation loss still counts them.
    rng = np.random.default_rng(2)
    x, y = rng.standard_normal((64, 16, 16, 3)), rng.integers(0, 5, 64)
    loss = numdl.losses.SparseCategoricalCrossentropy(from_logits=True)
    results = {}
    for regularized in (False, True):
        model = _convnet()
        if regularized:
            model = numdl.Sequential(
                [model, numdl.layers.ActivityRegularization(l2=0.5)]
            )
        model.compile("sgd", loss, metrics=["accuracy"])
        before = parallel.get_num_threads()
        parallel.set_num_threads(1)
        try:
            expected = model.evaluate(x, y, batch_size=32, verbose=0)
        finally:
            parallel.set_num_threads(threads)
        sizes = _all_sizes(model)
        sizes.clear()
        for _ in range(2):
            got = model.evaluate(x, y, batch_size=32, verbose=0)
            np.testing.assert_allclose(got, expected, rtol=1e-12)
        results[regularized] = sorted(set(sizes))
    assert results[False] == sorted({b - a for a, b in _bounds(32, threads)} | {32})
    assert results[True] == [32]  # whole batches: the activity loss is kept
    parallel.set_num_threads(before)


def _all_sizes(model) -> list[int]:
    for layer in numdl.layers.base._all_layers(model):
        if isinstance(layer, _Sizes):
            return layer.seen
    raise AssertionError("no _Sizes layer")


def test_predict_on_arrays_runs_the_model_on_parts_of_the_batch(threads, float64):
    # A convnet whose layers run on arrays: the first batch notes that its
    # ops split, the next ones go whole through the chain on one part per
    # thread (one split per batch); the results are those of one thread.
    numdl.utils.set_random_seed(1)
    model = numdl.Sequential(
        [
            numdl.Input((16, 16, 3)),
            numdl.layers.Conv2D(16, 3, activation="relu"),
            numdl.layers.MaxPooling2D(2),
            numdl.layers.Flatten(),
            numdl.layers.Dense(5),
        ]
    )
    x = np.random.default_rng(0).standard_normal((64, 16, 16, 3))
    before = parallel.get_num_threads()
    parallel.set_num_threads(1)
    try:
        expected = model(x, training=False).numpy()
    finally:
        parallel.set_num_threads(threads)
    first = model.predict_on_batch(x)
    assert model.__dict__["_arrays_in_parts"] == (threads > 1)
    assert "_predict_in_parts" not in model.__dict__  # (never on Tensors)
    count = parallel.split_count()
    second = model.predict_on_batch(x)
    assert parallel.split_count() - count == (1 if threads > 1 else 0)
    out = model.predict(x, batch_size=32, verbose=0)
    parallel.set_num_threads(before)
    for got in (first, second, out):
        np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-14)
