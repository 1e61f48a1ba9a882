"""Sensor and speech-feature sequences: BasicMotions, JapaneseVowels and windows of HAPT.

All three are read from the ``.npz`` files of the shared data folder (provenance in its
``README.md``); nothing is downloaded.

* ``basic_motions``: smart-watch accelerometer and gyroscope (6 channels, 10 Hz, 10 s = 100
  steps), 4 activities; 40 training and 40 test recordings (UEA archive split).
* ``japanese_vowels``: 12 LPC cepstrum coefficients per frame, 7–29 frames, 9 speakers;
  270 training and 370 test utterances (UCI split). Shorter utterances are padded at the end
  with zeros (the files pad with NaN): models mask the padding (``Masking(0.0)``).
* ``hapt``: raw smartphone accelerometer (g) and gyroscope (rad/s) at 50 Hz, 12 activities
  including postural transitions; windows of :data:`HAPT_WINDOW` samples (2.56 s) with 50 %
  overlap, cut inside one recording and kept only where every sample has the same activity.
  Users 1–21 train, 22–30 test (split by person, so the test measures unseen people). The
  dataset's terms forbid commercial use: tests and demos only.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rnnx.exporter.errors import DataNotFoundError, InputFileError

DATASETS = {
    "basic_motions": "basic_motions.npz",
    "japanese_vowels": "japanese_vowels.npz",
    "hapt": "hapt_raw.npz",
}
HAPT_WINDOW = 128
HAPT_TEST_USERS = range(22, 31)


@dataclass(frozen=True)
class SensorSplit:
    """Fixed-length sequences with integer labels.

    Attributes:
        x: ``float32 [n, T, channels]``; steps past ``lengths`` are 0 (padding).
        y: ``int64 [n]`` class indices into the dataset's ``class_names``.
        lengths: ``int32 [n]`` real steps of each sequence.
    """

    x: np.ndarray
    y: np.ndarray
    lengths: np.ndarray

    def __len__(self) -> int:
        return len(self.y)


@dataclass(frozen=True)
class SensorDataset:
    """A dataset's training and test splits, class and channel names, and where it came from.

    Attributes:
        name: ``basic_motions``, ``japanese_vowels`` or ``hapt``.
        train, test: the splits.
        class_names: label names by class index.
        channel_names: feature names by channel.
        padded: whether some sequences are shorter than ``T`` (models should mask).
        source: the file read.
    """

    name: str
    train: SensorSplit
    test: SensorSplit
    class_names: tuple[str, ...]
    channel_names: tuple[str, ...]
    padded: bool
    source: str

    @property
    def steps(self) -> int:
        return int(self.train.x.shape[1])

    @property
    def channels(self) -> int:
        return int(self.train.x.shape[2])


def find_sensor_file(name: str, data: str | Path | None = None) -> Path:
    """The ``.npz`` of dataset ``name`` in ``data`` (a folder or the file), else ``$RNNX_DATA``, ``./data``, ``../shared/data``.

    Raises:
        ValueError: an unknown dataset name.
        DataNotFoundError: the file is nowhere.
    """
    import os

    if name not in DATASETS:
        raise ValueError(f"unknown sensor dataset {name!r}; choose one of {', '.join(DATASETS)}")
    if data is not None:
        path = Path(data)
        if path.is_file():
            return path
        candidates = [path / DATASETS[name]]
    else:
        folders = [os.environ.get("RNNX_DATA"), "data", "../shared/data"]
        candidates = [Path(folder) / DATASETS[name] for folder in folders if folder]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    where = ", ".join(str(c.parent.resolve()) for c in candidates)
    raise DataNotFoundError(
        f"{DATASETS[name]} not found in {where}"
        + ("" if data is not None else " ($RNNX_DATA, ./data, ../shared/data)")
        + "; pass --data FOLDER or set RNNX_DATA"
    )


def load_sensor_dataset(name: str, data: str | Path | None = None) -> SensorDataset:
    """Read dataset ``name`` (see the module docstring).

    Raises:
        DataNotFoundError: the file is missing.
        InputFileError: the file is not the expected ``.npz``.
    """
    path = find_sensor_file(name, data)
    try:
        with np.load(path, allow_pickle=False) as arrays:
            content = {key: arrays[key] for key in arrays.files}
    except (OSError, ValueError, EOFError) as err:
        raise InputFileError(f"{path}: not a readable .npz file ({err or type(err).__name__})") from None
    try:
        if name == "hapt":
            return _hapt(content, str(path))
        splits = {}
        for part in ("train", "test"):
            x = np.nan_to_num(content[f"X_{part}"].astype(np.float32), nan=0.0)
            splits[part] = SensorSplit(x, content[f"y_{part}"].astype(np.int64), content[f"lengths_{part}"])
    except KeyError as missing:
        raise InputFileError(f"{path}: lacks the array {missing}; is it the rnnx shared-data file?") from None
    _check_fits(splits, len(content["class_names"]), str(path))
    padded = bool((splits["train"].lengths < splits["train"].x.shape[1]).any())
    return SensorDataset(
        name,
        splits["train"],
        splits["test"],
        tuple(str(c) for c in content["class_names"]),
        tuple(str(c) for c in content["channel_names"]),
        padded,
        str(path),
    )


def _check_fits(splits: dict[str, SensorSplit], classes: int, source: str) -> None:
    """Both splits ``[n, T, channels]`` with the same ``T`` and channels, labels and lengths that fit.

    Raises:
        InputFileError: naming the split and what does not fit.
    """
    train = splits["train"].x
    for part, split in splits.items():
        if split.x.ndim != 3 or len(split.x) == 0:
            raise InputFileError(
                f"{source}: X_{part} must be a non-empty [n, T, channels] array, got {list(split.x.shape)}"
            )
        if split.x.shape[1:] != train.shape[1:]:
            raise InputFileError(
                f"{source}: X_{part} has {split.x.shape[2]} channels × {split.x.shape[1]} steps, "
                f"X_train {train.shape[2]} × {train.shape[1]}; both splits need the same"
            )
        if len(split.y) != len(split.x) or len(split.lengths) != len(split.x):
            raise InputFileError(f"{source}: y_{part} or lengths_{part} does not have one entry per sequence")
        if split.y.min() < 0 or split.y.max() >= classes:
            raise InputFileError(f"{source}: y_{part} has labels outside 0…{classes - 1} ({classes} class names)")
        if (split.lengths < 1).any() or (split.lengths > split.x.shape[1]).any():
            raise InputFileError(f"{source}: lengths_{part} must be between 1 and {split.x.shape[1]}")


def _hapt(content: dict, source: str) -> SensorDataset:
    signals, labels, offsets = content["signals"], content["label"], content["exp_offsets"]
    users, activity_ids = content["exp_user"], content["activity_ids"]
    index = {int(a): i for i, a in enumerate(activity_ids)}
    parts = {"train": ([], []), "test": ([], [])}
    hop = HAPT_WINDOW // 2
    for recording, user in enumerate(users):
        start, end = int(offsets[recording]), int(offsets[recording + 1])
        part = "test" if int(user) in HAPT_TEST_USERS else "train"
        for s in range(start, end - HAPT_WINDOW + 1, hop):
            window = labels[s : s + HAPT_WINDOW]
            if window[0] < 0 or not (window == window[0]).all():
                continue
            parts[part][0].append(signals[s : s + HAPT_WINDOW])
            parts[part][1].append(index[int(window[0])])
    splits = {
        part: SensorSplit(
            np.stack(xs).astype(np.float32), np.array(ys, np.int64), np.full(len(ys), HAPT_WINDOW, np.int32)
        )
        for part, (xs, ys) in parts.items()
    }
    return SensorDataset(
        "hapt",
        splits["train"],
        splits["test"],
        tuple(str(n) for n in content["activity_names"]),
        tuple(str(c) for c in content["channel_names"]),
        False,
        source,
    )


def channel_statistics(split: SensorSplit) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and variance over the real (unpadded) steps: ``float32 [channels]`` each."""
    steps = np.arange(split.x.shape[1])[None, :] < split.lengths[:, None]
    real = split.x[steps]
    return real.mean(axis=0).astype(np.float32), np.maximum(real.var(axis=0), 1e-12).astype(np.float32)
