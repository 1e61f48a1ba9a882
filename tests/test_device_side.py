"""The device side runs without TensorFlow or Keras: proven in a subprocess where importing them fails."""

import json
import subprocess
import sys
import textwrap

import numpy as np

BLOCKER = textwrap.dedent(
    """
    import importlib.abc, sys

    class NoTensorFlow(importlib.abc.MetaPathFinder):
        '''Makes TensorFlow and Keras look uninstalled.'''
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in ("tensorflow", "keras", "tf_keras", "tensorboard"):
                raise ModuleNotFoundError(f"No module named {name!r} (blocked by the test)")
            return None

    sys.meta_path.insert(0, NoTensorFlow())
    """
)


def run_without_tensorflow(body: str) -> subprocess.CompletedProcess:
    code = (
        BLOCKER
        + textwrap.dedent(body)
        + textwrap.dedent(
            """
        leaked = sorted(m for m in sys.modules if m.split(".")[0] in ("tensorflow", "keras"))
        assert not leaked, leaked
        """
        )
    )
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)


def test_predictor_infer_inspect_and_help_never_import_tensorflow(tiny_exports, tmp_path):
    model = tiny_exports["loop"]
    result = run_without_tensorflow(
        f"""
        import contextlib, io, json
        from rnnx.exporter.runtime.predictor import Predictor
        from rnnx.exporter.cli import app

        predictor = Predictor({str(model)!r})
        print(json.dumps({{"label": predictor.classify(["a fine film"])[0].label}}))
        for args in (["--help"], ["infer", {str(model)!r}, "--text", "a fine film", "--json"], ["inspect", {str(model)!r}]):
            out = io.StringIO()
            try:
                with contextlib.redirect_stdout(out):
                    app(args)
            except SystemExit as done:
                assert done.code in (0, None), (args, done.code, out.getvalue())
        """
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.splitlines()[0])["label"] in ("negative", "positive")


def test_training_and_device_token_ids_are_identical_on_real_reviews(tiny_run, tiny_exports, imdb_test, tmp_path):
    """Training encodes with its fitted tokenizer; the device decodes the embedded copy without TensorFlow."""
    from rnnx.models.text.tokenizer import WordTokenizer

    reviews = imdb_test.head(500)
    texts_path = tmp_path / "texts.json"
    texts_path.write_text(json.dumps(reviews.texts))
    training_side = WordTokenizer.load(tiny_run / "tokenizer.json").encode(reviews.texts)
    result = run_without_tensorflow(
        f"""
        import json, numpy as np
        from rnnx.exporter.runtime.predictor import Predictor
        texts = json.load(open({str(texts_path)!r}))
        np.save({str(tmp_path / "device.npy")!r}, Predictor({str(tiny_exports["unrolled"])!r}).encode(texts))
        """
    )
    assert result.returncode == 0, result.stderr
    device_side = np.load(tmp_path / "device.npy")
    assert device_side.shape == training_side.shape == (500, 24)
    assert np.array_equal(device_side, training_side)
    assert (training_side > 1).sum() > 500 * 10  # real words, not all padding/OOV


def test_cli_without_training_stack_explains_what_to_install(tiny_run):
    result = run_without_tensorflow(
        f"""
        import contextlib, io
        from rnnx.exporter.cli import app
        err = io.StringIO()
        try:
            with contextlib.redirect_stderr(err):
                app(["export", {str(tiny_run / "model.keras")!r}])
        except SystemExit as done:
            print(done.code)
            print(err.getvalue().strip())
        """
    )
    assert result.returncode == 0, result.stderr
    code, message = result.stdout.strip().splitlines()[-2:]
    assert code == "2"
    assert (
        message
        == "error: `rnnx export` needs tensorflow and keras; install the desktop extra: pip install 'rnnx[train]'"
    )
