"""Loading the Keras model to export or verify, with one-line errors for bad files."""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

from rnnx.exporter.errors import InputFileError, UnsupportedModelError

HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
KERAS_SUFFIXES = (".keras", ".h5", ".hdf5")


def check_model_path(path: str | Path) -> Path:
    """Check that ``path`` looks like a loadable Keras model file, without importing Keras.

    Raises:
        InputFileError: missing, a folder that is not a SavedModel, a wrong suffix, or a file
            whose bytes are not a ``.keras`` zip archive / an HDF5 file.
        UnsupportedModelError: for a SavedModel folder (traced graphs, not Keras layers).
    """
    path = Path(path)
    if not path.exists():
        raise InputFileError(f"{path} does not exist")
    if path.is_dir():
        if (path / "saved_model.pb").exists():
            raise UnsupportedModelError(
                f"{path} is a SavedModel: it holds traced graphs, not Keras layers, so rnnx cannot plan or "
                "lower its recurrent layers; load the Keras model it came from and save it with "
                "model.save('model.keras')"
            )
        raise InputFileError(f"{path} is a folder; give a .keras or .h5 model file")
    suffix = path.suffix.lower()
    if suffix not in KERAS_SUFFIXES:
        raise InputFileError(
            f"{path}: expected a Keras model file ({', '.join(KERAS_SUFFIXES)}), got '{suffix or 'no suffix'}'"
        )
    if suffix == ".keras" and not zipfile.is_zipfile(path):
        raise InputFileError(f"{path} is not a .keras archive (not a zip file; truncated or corrupt?)")
    if suffix in (".h5", ".hdf5"):
        with path.open("rb") as handle:
            if handle.read(8) != HDF5_SIGNATURE:
                raise InputFileError(f"{path} is not an HDF5 file (truncated or corrupt?)")
    return path


def load_keras_model(path: str | Path):
    """Load a ``.keras`` or legacy ``.h5`` model for inference (not compiled).

    Raises:
        InputFileError, UnsupportedModelError: as :func:`check_model_path`, or when Keras
            cannot deserialize the file (its first error line is quoted).
    """
    path = check_model_path(path)
    import keras

    import rnnx.models.scratch.cells  # noqa: F401  (registers rnnx's own serializable layers and cells)

    try:
        model = keras.models.load_model(path, compile=False)
    except Exception as err:  # Keras raises many types for unreadable files and unknown layers
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise InputFileError(f"cannot load {path} as a Keras model: {first}") from None
    return as_float32(model)


def as_float32(model):
    """``model`` itself when every layer computes in float32, else a float32 copy with the same weights.

    A model trained with mixed precision (``mixed_float16``: float32 variables, float16 compute)
    is rebuilt with every layer's dtype policy set to float32, so it exports exactly as a model
    trained in float32 would: the variables are float32 already, only the compute dtype changes.
    """
    import keras

    if all(getattr(layer, "compute_dtype", "float32") in ("float32", None) for layer in _all_layers(model)):
        return model

    def float32_config(value):
        if isinstance(value, dict):
            if value.get("class_name") == "DTypePolicy" or value.get("class_name") == "Policy":
                return "float32"
            return {key: float32_config(item) for key, item in value.items()}
        if isinstance(value, list):
            return [float32_config(item) for item in value]
        return value

    config = float32_config(keras.saving.serialize_keras_object(model))
    rebuilt = keras.saving.deserialize_keras_object(config)
    rebuilt.set_weights(model.get_weights())
    return rebuilt


def _all_layers(model) -> list:
    layers = []
    for layer in getattr(model, "layers", []):
        layers.append(layer)
        layers.extend(_all_layers(layer))
    return layers


def file_sha256(path: str | Path) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
