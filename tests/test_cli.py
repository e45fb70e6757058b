"""The ``numdl`` command: each subcommand runs, --help works, mistakes are named."""

import subprocess
import sys
from types import SimpleNamespace

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from _images import png_size  # noqa: E402

import numdl  # noqa: E402
from numdl import cli, plot  # noqa: E402

COMMANDS = ["demo", "activations", "train", "info", "bench"]


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def fails(argv, capsys):
    """Run ``numdl argv``, expect exit status 2, return what it printed."""
    with pytest.raises(SystemExit) as exit_info:
        cli.main(argv)
    assert exit_info.value.code == 2
    return capsys.readouterr().err


# ------------------------------------------------------------------- help
@pytest.mark.parametrize("command", COMMANDS)
def test_help_on_each_command(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main([command, "--help"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.startswith(f"usage: numdl {command}")


def test_the_module_runs_as_the_numdl_command():
    out = subprocess.run(
        [sys.executable, "-m", "numdl.cli", "--help"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert out.startswith("usage: numdl") and all(c in out for c in COMMANDS)


def test_no_command_or_an_unknown_one_is_refused(capsys):
    assert "required: COMMAND" in fails([], capsys)
    err = fails(["fly"], capsys)
    assert "invalid choice: 'fly'" in err and "'demo'" in err and "'bench'" in err
    assert "unrecognized arguments: --fast" in fails(["info", "--fast"], capsys)


# ------------------------------------------------------------------- demo
def test_demo_trains_prints_and_draws_its_pictures(tmp_path, capsys):
    out = tmp_path / "demo"
    argv = ["demo", "--epochs", "2", "--verbose", "0", "--out", str(out)]
    assert cli.main(argv) == 0
    printed = capsys.readouterr().out
    assert 'Model: "digits_mlp"' in printed and "test accuracy: " in printed
    names = [
        "training_curves.png",
        "confusion_matrix.png",
        "misclassified.png",
        "activations.png",
        "model.png",
    ]
    assert sorted(p.name for p in out.iterdir()) == sorted(names)
    for name in names:
        png_size(out / name)
    assert f"pictures in {out}/" in printed


def test_demo_pictures_show_the_misclassified_digits(tmp_path, monkeypatch):
    model = cli.digits_mlp()
    (x_train, y_train), (x_test, y_test) = numdl.datasets.digits.load_data()
    history = model.fit(x_train.reshape(-1, 64), y_train, epochs=1, verbose=0)
    predicted = np.array(y_test)
    predicted[:3] = (predicted[:3] + 1) % 10  # three wrong on purpose
    x = x_test.reshape(-1, 64)
    shown = []
    real_images = plot.plot_images

    def spy(images, y, predictions, path):
        shown.append((images, y, predictions))
        return real_images(images, y, predictions, path=path)

    monkeypatch.setattr(plot, "plot_images", spy)
    cli.demo_pictures(tmp_path, model, history, x, y_test, predicted)
    images, y, predictions = shown[0]
    np.testing.assert_array_equal(images, x[:3])  # exactly the misclassified
    np.testing.assert_array_equal(predictions, predicted[:3])
    np.testing.assert_array_equal(y, y_test[:3])


def test_demo_without_matplotlib_trains_and_names_the_extra(
    tmp_path, monkeypatch, capsys
):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    accuracy = cli.demo(epochs=1, verbose=0, out=tmp_path / "demo")
    printed = capsys.readouterr().out
    assert 0.0 <= accuracy <= 1.0 and f"test accuracy: {accuracy:.2%}" in printed
    skipped = (
        'pictures skipped: matplotlib is not installed (pip install "numdl[plot]")'
    )
    assert skipped in printed
    assert not (tmp_path / "demo").exists()


# ------------------------------------------------------------ activations
def test_activations_command_writes_the_named_gallery(tmp_path, capsys):
    path = tmp_path / "gallery.png"
    cli.main(["activations", "--names", "relu", "tanh", "--out", str(path)])
    assert f"wrote {path}" in capsys.readouterr().out
    reference = plot.plot_activations(["relu", "tanh"])
    expected = np.round(reference.get_size_inches() * reference.dpi).astype(int)
    assert png_size(path) == tuple(expected)


def test_activations_command_lists_the_valid_names(capsys):
    err = fails(["activations", "--names", "relu", "nope"], capsys)
    assert "invalid choice: 'nope'" in err
    assert all(f"'{n}'" in err for n in numdl.activations.names())


# ------------------------------------------------------------------ train
def test_train_unknown_example_lists_the_valid_names(capsys):
    err = fails(["train", "mnist_mpl"], capsys)
    assert "no example named 'mnist_mpl'" in err
    assert "coffee, fashion_mnist_cnn, mnist_cnn, mnist_mlp, spirals" in err


def test_train_runs_a_bundled_example(capsys):
    assert cli.train("spirals", {}, ["--steps", "30"]) >= 0.0
    assert "test accuracy:" in capsys.readouterr().out
    accuracy = cli.train("coffee", {"epochs": 1}, ["--tiles=5", "--verbose", "0"])
    assert 0.0 <= accuracy <= 1.0
    assert "accuracy on 1,000 new roasts" in capsys.readouterr().out


def test_every_example_name_is_a_script_with_a_main():
    for name, filename in cli.EXAMPLES.items():
        path = cli.find_script(name)
        assert path.name == filename and "def main(" in path.read_text()


@pytest.fixture(autouse=True)
def _examples_leave_no_trace(monkeypatch):
    """Running an example imports its ``_common`` and extends sys.path: undo
    both, so a fake ``_common`` never reaches the other tests' examples."""
    before = sys.modules.pop("_common", None)
    monkeypatch.setattr(sys, "path", list(sys.path))
    yield
    sys.modules.pop("_common", None)
    if before is not None:
        sys.modules["_common"] = before


def fake_examples(tmp_path):
    """Example files recording what their main received."""
    for name in cli.EXAMPLES.values():
        (tmp_path / name).write_text(
            "import _common\ndef main(argv=None):\n    return ('argv', argv)\n"
        )
    (tmp_path / "_common.py").write_text("")
    (tmp_path / "coffee_roasting.py").write_text(
        "def main(epochs=10, tiles=1000, verbose=2):\n"
        "    return ('keywords', epochs, tiles, verbose)\n"
    )
    return tmp_path


def test_train_gives_epochs_and_data_dir_as_each_example_takes_them(
    tmp_path, monkeypatch, capsys
):
    monkeypatch.setattr(cli, "examples_dir", lambda: fake_examples(tmp_path))
    got = cli.train("mnist_mlp", {"epochs": 3, "data_dir": "D"}, ["--seed", "1"])
    assert got == ("argv", ["--epochs=3", "--data-dir=D", "--seed", "1"])
    got = cli.train("coffee", {"epochs": 3}, ["--tiles", "7"])
    assert got == ("keywords", 3, 7, 2)
    err = fails(["train", "coffee", "--data-dir", "D"], capsys)
    assert "example 'coffee' does not take --data-dir" in err
    assert "it takes --epochs, --tiles, --verbose" in err
    assert "--tiles expects int, got 'x'" in fails(
        ["train", "coffee", "--tiles=x"], capsys
    )


def test_train_runs_a_script_with_the_options_in_its_argv(tmp_path, capsys):
    script = tmp_path / "mine.py"
    script.write_text(
        "import sys\nif __name__ == '__main__':\n    print(sys.argv[1:])\n"
    )
    argv = ["train", str(script), "--epochs", "4", "--data-dir", "D", "--lr", "0.1"]
    assert cli.main(argv) == 0
    printed = capsys.readouterr().out
    assert printed.strip() == str(["--epochs=4", "--data-dir=D", "--lr", "0.1"])


def test_train_without_the_examples_says_where_it_looked(monkeypatch, capsys):
    monkeypatch.setattr(cli, "examples_dir", lambda: None)
    err = fails(["train", "mnist_cnn"], capsys)
    assert "example scripts are not installed" in err and "source checkout" in err


# ------------------------------------------------------------------- info
def test_info_reports_versions_blas_threads_and_extras(monkeypatch, capsys):
    from threadpoolctl import threadpool_info

    monkeypatch.setitem(cli.EXTRAS, "numdl_no_such_package", "plot")
    rows = cli.info()
    printed = capsys.readouterr().out
    assert rows["numdl"] == numdl.__version__ and rows["NumPy"] == np.__version__
    blas = [p for p in threadpool_info() if p["user_api"] == "blas"][0]
    assert rows["BLAS threads"] == str(blas["num_threads"])
    assert rows["BLAS"].startswith(blas["internal_api"])
    assert rows["matplotlib"] == matplotlib.__version__
    missing = 'not installed (pip install "numdl[plot]")'
    assert rows["numdl_no_such_package"] == missing
    for key, value in rows.items():
        assert any(
            ln.startswith(key) and ln.endswith(value) for ln in printed.split("\n")
        )


# ------------------------------------------------------------------ bench
def test_bench_runs_the_quick_suite_with_the_arguments(monkeypatch):
    calls = []
    fake = SimpleNamespace(main=lambda argv: calls.append(argv))
    monkeypatch.setitem(sys.modules, "benchmarks.__main__", fake)
    assert cli.main(["bench", "--only", "engine"]) == 0
    assert cli.main(["bench", "--smoke"]) == 0  # instead of --quick
    assert calls == [["--quick", "--only", "engine"], ["--smoke"]]


def test_bench_without_the_benchmarks_says_so(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "benchmarks.__main__", None)
    err = fails(["bench"], capsys)
    assert "cannot import benchmarks.__main__" in err
    assert "python -m benchmarks" in err
