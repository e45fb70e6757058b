"""The ``numdl`` command.

- ``numdl demo``: an MLP learns the bundled 8x8 digits; pictures in numdl-demo/
- ``numdl activations``: the activation gallery as a PNG
- ``numdl train NAME_OR_SCRIPT``: run a bundled example or a script
- ``numdl info``: versions, BLAS and threads, backend, optional extras
- ``numdl bench``: the quick benchmark suite

``numdl COMMAND --help`` tells more.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import inspect
import os
import platform
import runpy
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

import numdl
from numdl import layers

EXAMPLES = {
    "coffee": "coffee_roasting.py",
    "fashion_mnist_cnn": "fashion_mnist_cnn.py",
    "mnist_cnn": "mnist_cnn.py",
    "mnist_mlp": "mnist_mlp.py",
    "spirals": "spirals_engine.py",
}
"""``numdl train`` names and the example scripts they run."""

EXTRAS = {
    "matplotlib": "plot",
    "safetensors": "safetensors",
    "onnx": "onnx",
    "onnxruntime": "onnx",
    "torch": "bench",
    "cupy": None,
}
"""Optional packages ``numdl info`` reports, with the extra that installs them."""

PLOT_HINT = 'pip install "numdl[plot]"'


class CommandError(Exception):
    """A mistake in what was asked: ``numdl COMMAND: error: ...``, exit 2."""


# ------------------------------------------------------------------- demo
def digits_mlp() -> Any:
    """The demo's network: 64 -> Rescaling -> Dense(128, relu) -> Dropout(0.2)
    -> Dense(10, softmax), compiled with Adam and sparse cross-entropy.

    >>> digits_mlp().count_params()
    9610
    """
    model = numdl.Sequential(
        [
            numdl.Input(shape=(64,)),
            layers.Rescaling(1 / 16),  # pixels are 0..16
            layers.Dense(128, activation="relu"),
            layers.Dropout(0.2),
            layers.Dense(10, activation="softmax"),
        ],
        name="digits_mlp",
    )
    model.compile(
        optimizer="adam",
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model


def demo(
    epochs: int = 40,
    seed: int = 0,
    verbose: str | int = "auto",
    out: str | Path | None = None,
) -> float:
    """Train the digits MLP, print its test accuracy and return it; with
    ``out``, also draw the pictures there (see :func:`demo_pictures`).

    The UCI digits (1,797 images, bundled) are split 80/20; the test images
    are shown as validation data each epoch (watched, never trained on). It
    reaches about 98% test accuracy in a few seconds.

    >>> 0.0 <= demo(epochs=1, verbose=0) <= 1.0  # doctest: +ELLIPSIS
    numdl demo: ...
    True
    """
    numdl.utils.set_random_seed(seed)
    (x_train, y_train), (x_test, y_test) = numdl.datasets.digits.load_data()
    x_train = x_train.reshape(len(x_train), 64).astype(np.float32)
    x_test = x_test.reshape(len(x_test), 64).astype(np.float32)
    print("numdl demo: an MLP learns the UCI 8x8 handwritten digits")
    print(f"{len(x_train)} training images, {len(x_test)} test images\n")
    model = digits_mlp()
    model.summary()
    start = time.perf_counter()
    history = model.fit(
        x_train,
        y_train,
        epochs=epochs,
        batch_size=32,
        validation_data=(x_test, y_test),
        verbose=verbose,
    )
    _, accuracy = model.evaluate(x_test, y_test, verbose=0)
    elapsed = time.perf_counter() - start
    print(f"\ntest accuracy: {accuracy:.2%}  ({elapsed:.1f} s)")
    if out is not None:
        predicted = model.predict(x_test, verbose=0).argmax(axis=1)
        demo_pictures(Path(out), model, history, x_test, y_test, predicted)
    return float(accuracy)


def demo_pictures(
    out: Path, model: Any, history: Any, x: Any, y: Any, predicted: Any
) -> list[Path]:
    """Write the demo's PNGs into ``out`` and return their paths; without
    matplotlib, say which extra gives them and return ``[]``.

    training_curves.png, confusion_matrix.png, misclassified.png (up to 30
    test digits the model got wrong), activations.png, model.png.
    """
    try:
        from numdl import plot

        plot.pyplot()
    except ImportError:
        print(f"\npictures skipped: matplotlib is not installed ({PLOT_HINT})")
        return []
    wrong = np.flatnonzero(predicted != y)[:30]
    wrong = wrong if len(wrong) else np.arange(min(10, len(y)))
    drawings = {
        "training_curves.png": lambda p: plot.plot_history(history, path=p),
        "confusion_matrix.png": lambda p: plot.plot_confusion_matrix(
            y, predicted, path=p
        ),
        "misclassified.png": lambda p: plot.plot_images(
            x[wrong], y[wrong], predicted[wrong], path=p
        ),
        "activations.png": lambda p: plot.plot_activations(path=p),
        "model.png": lambda p: plot.plot_model(model, path=p),
    }
    written = []
    for name, draw in drawings.items():
        plot.pyplot().close(draw(out / name))
        written.append(out / name)
    print(f"\npictures in {out}/: {', '.join(p.name for p in written)}")
    return written


# ------------------------------------------------------------ activations
def activations_png(
    names: list[str] | None, out: str | Path, x_range: Any = (-6.0, 6.0)
) -> Path:
    """Draw the activation gallery (or the named activations) into ``out``.

    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as tmp:  # doctest: +ELLIPSIS
    ...     activations_png(["tanh"], f"{tmp}/a.png").stat().st_size > 0
    wrote .../a.png
    True
    """
    from numdl import plot

    plot.pyplot().close(plot.plot_activations(names, x_range=x_range, path=out))
    print(f"wrote {out}")
    return Path(out)


# ------------------------------------------------------------------ train
def examples_dir() -> Path | None:
    """Where the example scripts are: shipped inside the package
    (``numdl/examples/``), else the source checkout's ``examples/``; None
    when neither holds them (a non-editable install without them).

    >>> examples_dir() is None or (examples_dir() / "mnist_mlp.py").is_file()
    True
    """
    package = Path(numdl.__file__).resolve().parent
    for candidate in (package / "examples", package.parent / "examples"):
        if all((candidate / f).is_file() for f in ("_common.py", *EXAMPLES.values())):
            return candidate
    return None


def find_script(target: str) -> Path:
    """The script a ``numdl train`` target names: a bundled example's name or
    a path to a ``.py`` file.

    >>> find_script("spirals").name
    'spirals_engine.py'
    """
    if target in EXAMPLES:
        where = examples_dir()
        if where is None:
            package = Path(numdl.__file__).resolve().parent
            raise CommandError(
                f"the example scripts are not installed with this "
                f"numdl (looked in {package / 'examples'} and "
                f"{package.parent / 'examples'}); run it from a source checkout "
                f"(pip install -e .) or give the path of a script"
            )
        return where / EXAMPLES[target]
    path = Path(target)
    if path.suffix == ".py" and path.is_file():
        return path
    raise CommandError(
        f"no example named {target!r} and no script at that path; "
        f"examples: {', '.join(EXAMPLES)} (or the path of a .py script)"
    )


def train(target: str, options: dict[str, Any], extra: list[str]) -> Any:
    """Run a bundled example (its ``main``) or a script (as ``__main__``).

    ``options`` are ``--epochs``/``--data-dir`` as ``{"epochs": 3}``: an
    example's ``main`` gets them as command-line arguments when it takes
    ``argv``, else as keywords; a script gets them in ``sys.argv``. ``extra``
    arguments go along to ``argv`` and scripts. Returns what the example's
    ``main`` returns (a script: None).
    """
    path = find_script(target)
    sys.path.insert(0, str(path.parent))  # examples import their _common
    try:
        if target not in EXAMPLES:
            return _run_script(path, _flags(options) + extra)
        spec = importlib.util.spec_from_file_location(f"_numdl_{target}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return _call_main(target, module.main, options, extra)
    finally:
        sys.path.remove(str(path.parent))


def _flags(options: dict[str, Any]) -> list[str]:
    return [f"--{k.replace('_', '-')}={v}" for k, v in options.items()]


def _run_script(path: Path, argv: list[str]) -> None:
    saved = sys.argv
    sys.argv = [str(path), *argv]
    try:
        runpy.run_path(str(path), run_name="__main__")
    finally:
        sys.argv = saved


def _call_main(name: str, main: Any, options: dict, extra: list[str]) -> Any:
    takes = inspect.signature(main).parameters
    if "argv" in takes:
        return main(argv=_flags(options) + extra)
    keywords = {**options, **_keywords(extra)}
    refused = [k for k in keywords if k not in takes]
    if refused:
        raise CommandError(
            f"example {name!r} does not take "
            f"{', '.join('--' + k.replace('_', '-') for k in refused)}; it takes "
            f"{', '.join('--' + k.replace('_', '-') for k in takes)}"
        )
    return main(**{k: _cast(k, v, takes[k].default) for k, v in keywords.items()})


def _keywords(extra: list[str]) -> dict[str, str]:
    """``["--steps", "300", "--seed=1"]`` -> ``{"steps": "300", "seed": "1"}``."""
    pairs: dict[str, str] = {}
    words = iter(extra)
    for word in words:
        key, sep, value = word.partition("=")
        if not key.startswith("--"):
            raise CommandError(f"expected --NAME VALUE, got {word!r}")
        pairs[key[2:].replace("-", "_")] = value if sep else next(words, "")
    return pairs


def _cast(name: str, value: Any, default: Any) -> Any:
    """A command-line string as the type of the parameter's default."""
    if not isinstance(value, str) or isinstance(default, str):
        return value
    if isinstance(default, (int, float)) and not isinstance(default, bool):
        try:
            return type(default)(value)
        except ValueError:
            raise CommandError(
                f"--{name.replace('_', '-')} expects {type(default).__name__}, "
                f"got {value!r}"
            ) from None
    try:
        return int(value)
    except ValueError:
        return value


# ------------------------------------------------------------------- info
def info() -> dict[str, str]:
    """Print and return versions, BLAS and its threads, backend and extras.

    >>> info()["numdl"] == numdl.__version__  # doctest: +ELLIPSIS
    numdl ...
    True
    """
    rows = {
        "numdl": numdl.__version__,
        "Python": f"{platform.python_version()} ({sys.executable})",
        "NumPy": np.__version__,
        **_blas(),
        "CPU cores": str(os.cpu_count()),
        "backend": "numpy (CuPy arrays run on the GPU when cupy is installed)",
    }
    for module, extra in EXTRAS.items():
        version = _version(module)
        hint = f' (pip install "numdl[{extra}]")' if extra else ""
        rows[module] = version or f"not installed{hint}"
    width = max(len(k) for k in rows)
    for key, value in rows.items():
        print(f"{key:<{width}}  {value}")
    return rows


def _blas() -> dict[str, str]:
    """The BLAS NumPy uses and its thread count (threadpoolctl if present)."""
    try:
        from threadpoolctl import threadpool_info

        pools = [p for p in threadpool_info() if p.get("user_api") == "blas"]
    except ImportError:
        pools = []
    if pools:
        pool = pools[0]
        return {
            "BLAS": f"{pool['internal_api']} {pool.get('version') or ''}".strip(),
            "BLAS threads": str(pool["num_threads"]),
        }
    try:
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        name = f"{blas.get('name', '?')} {blas.get('version', '')}".strip()
    except Exception:  # older NumPy: no dict form
        name = "unknown"
    return {"BLAS": name, "BLAS threads": "unknown (pip install threadpoolctl)"}


def _version(module: str) -> str | None:
    """The installed version of ``module`` (found without importing it)."""
    if importlib.util.find_spec(module) is None:
        return None
    dists = importlib.metadata.packages_distributions().get(module, [module])
    for dist in dists:
        try:
            return importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            continue
    return "installed (version unknown)"


# ------------------------------------------------------------------ bench
def bench(args: list[str]) -> Any:
    """Run the quick benchmark suite: ``benchmarks.__main__.main``
    with ``["--quick", *args]`` (``--smoke`` in ``args`` replaces ``--quick``).
    """
    try:
        from benchmarks.__main__ import main as bench_main
    except ImportError as exc:
        if (exc.name or "").startswith("benchmarks"):
            raise CommandError(
                f"cannot import {exc.name} (the benchmarks ship "
                f"with numdl's source and its package); run it from a source "
                f"checkout: python -m benchmarks --quick"
            ) from exc
        raise CommandError(
            f'the benchmarks need the bench extra (pip install "numdl[bench]"): {exc}'
        ) from exc
    return bench_main([*([] if "--smoke" in args else ["--quick"]), *args])


# ------------------------------------------------------------------- main
def build_parser() -> argparse.ArgumentParser:
    """The ``numdl`` argument parser, one subcommand per command.

    >>> sorted(build_parser()._subparsers._group_actions[0].choices)
    ['activations', 'bench', 'demo', 'info', 'train']
    """
    parser = argparse.ArgumentParser(
        prog="numdl",
        description=__doc__.splitlines()[0],
        epilog="numdl COMMAND --help describes each command.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _demo_parser(sub)
    _activations_parser(sub)
    _train_parser(sub)
    sub.add_parser(
        "info",
        help="versions, BLAS and threads, backend, optional extras",
        description="Print numdl, Python and NumPy versions, the BLAS and its "
        "threads, the backend and which optional extras are installed.",
    )
    sub.add_parser(
        "bench",
        help="the quick benchmark suite (arguments go to python -m benchmarks)",
        description="Run the benchmark suite in its quick mode (python -m "
        "benchmarks --quick); further arguments are passed on: --threads N, "
        "--cases CASE..., --out FILE, --smoke instead of --quick (python -m "
        "benchmarks --help describes them).",
    )
    return parser


def _demo_parser(sub: Any) -> None:
    p = sub.add_parser(
        "demo",
        help="train an MLP on the bundled digits, draw pictures",
        description="Train a Keras-style MLP on the bundled 8x8 digits, print "
        "its summary, progress and test accuracy, and draw the training "
        "curves, confusion matrix, misclassified digits, activation gallery "
        "and model graph into --out.",
    )
    p.add_argument("--epochs", type=int, default=40)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--verbose", default="auto", help="0 silent, 1 progress bar, 2 one line/epoch"
    )
    p.add_argument("--out", default="numdl-demo", help="folder for the PNGs")
    p.add_argument("--no-plots", action="store_true", help="train and print only")


def _activations_parser(sub: Any) -> None:
    p = sub.add_parser(
        "activations",
        help="the activation gallery as a PNG",
        description="Draw every registered activation (or --names) with its "
        "derivative by autograd and its saturated tails shaded.",
    )
    p.add_argument(
        "--names", nargs="+", choices=numdl.activations.names(), metavar="NAME"
    )
    p.add_argument("--out", default="activations.png", help="PNG file to write")
    p.add_argument(
        "--range", nargs=2, type=float, default=(-6.0, 6.0), metavar=("LOW", "HIGH")
    )


def _train_parser(sub: Any) -> None:
    p = sub.add_parser(
        "train",
        help="run a bundled example or a script",
        description="Run a bundled example by name or a Python script; "
        "arguments not listed here go along to it.",
        epilog=f"examples: {', '.join(f'{k} ({v})' for k, v in EXAMPLES.items())}",
    )
    p.add_argument("target", metavar="SCRIPT_OR_EXAMPLE")
    p.add_argument("--epochs", type=int)
    p.add_argument("--data-dir", help="folder holding the data set's files")


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``numdl`` console script; returns the exit status.

    >>> main(["demo", "--epochs", "1", "--verbose", "0", "--no-plots"])
    ... # doctest: +ELLIPSIS
    numdl demo: ...
    0
    """
    if "matplotlib" not in sys.modules:
        os.environ.setdefault("MPLBACKEND", "Agg")  # the pictures go to files
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra and args.command not in ("train", "bench"):
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    try:
        _dispatch(args, extra)
    except CommandError as exc:
        parser.exit(2, f"numdl {args.command}: error: {exc}\n")
    return 0


def _dispatch(args: argparse.Namespace, extra: list[str]) -> Any:
    if args.command == "demo":
        verbose = args.verbose if args.verbose == "auto" else int(args.verbose)
        out = None if args.no_plots else args.out
        return demo(epochs=args.epochs, seed=args.seed, verbose=verbose, out=out)
    if args.command == "activations":
        return activations_png(args.names, args.out, tuple(args.range))
    if args.command == "train":
        options = {"epochs": args.epochs, "data_dir": args.data_dir}
        options = {k: v for k, v in options.items() if v is not None}
        return train(args.target, options, extra)
    if args.command == "info":
        return info()
    return bench(extra)


if __name__ == "__main__":
    sys.exit(main())
