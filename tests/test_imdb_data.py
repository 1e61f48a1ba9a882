import gzip
import json

import numpy as np
import pytest

from rnnx.exporter.errors import DataNotFoundError, InputFileError
from rnnx.models.data.imdb import ENV_VAR, find_imdb, load_imdb, read_aclimdb, read_jsonl


def test_shared_jsonl_has_the_full_balanced_splits(shared_data):
    source = find_imdb(shared_data)
    assert source.kind == "jsonl"
    train = load_imdb(source, "train")
    assert len(train) == 25000
    assert np.bincount(train.labels).tolist() == [12500, 12500]
    # rows are grouped by label in the file; shuffling mixes them deterministically
    assert train.labels[:100].sum() == 0
    shuffled = train.shuffled(0)
    assert 20 < shuffled.labels[:100].sum() < 80
    assert shuffled.texts[:5] == train.shuffled(0).texts[:5]
    assert shuffled.texts[:5] != train.shuffled(1).texts[:5]


def _write_jsonl(path, rows, gz=True):
    opener = gzip.open if gz else open
    with opener(path, "wt", encoding="utf-8") as out:
        for row in rows:
            out.write((row if isinstance(row, str) else json.dumps(row)) + "\n")


def test_find_order_is_explicit_then_environment_then_search(tmp_path):
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        for split in ("train", "test"):
            _write_jsonl(tmp_path / name / f"imdb_{split}.jsonl.gz", [{"text": "ok", "label": 1}])
    env = {ENV_VAR: str(tmp_path / "b")}
    assert find_imdb(tmp_path / "a", env=env).location == tmp_path / "a"
    assert find_imdb(None, env=env).location == tmp_path / "b"
    assert find_imdb(None, env={}, search=[str(tmp_path / "missing"), str(tmp_path / "a")]).location == tmp_path / "a"


def test_not_found_lists_every_place_tried(tmp_path):
    with pytest.raises(DataNotFoundError) as info:
        find_imdb(None, env={}, search=[str(tmp_path / "x"), str(tmp_path / "y")])
    message = str(info.value)
    assert str(tmp_path / "x") in message and str(tmp_path / "y") in message
    assert "--data" in message and ENV_VAR in message and "\n" not in message


def test_explicit_location_without_data_is_an_error(tmp_path):
    with pytest.raises(DataNotFoundError, match="holds no IMDB reviews"):
        find_imdb(tmp_path, env={})
    with pytest.raises(DataNotFoundError, match="does not exist"):
        find_imdb(tmp_path / "nope", env={})


def test_aclimdb_layout(tmp_path):
    root = tmp_path / "aclImdb"
    for split in ("train", "test"):
        for label, name in ((0, "neg"), (1, "pos")):
            folder = root / split / name
            folder.mkdir(parents=True)
            (folder / f"{label}_3.txt").write_text(f"{split} {name} review<br />two", encoding="utf-8")
    source = find_imdb(tmp_path, env={})
    assert source.kind == "aclimdb" and source.location == root
    data = load_imdb(source, "test")
    assert data.texts == ["test neg review<br />two", "test pos review<br />two"]
    assert data.labels.tolist() == [0, 1]
    with pytest.raises(InputFileError, match="missing"):
        read_aclimdb(root, "unsup")


def test_single_file_source_plain_jsonl(tmp_path):
    _write_jsonl(tmp_path / "few.jsonl", [{"text": "good", "label": 1}, {"text": "bad", "label": 0}], gz=False)
    source = find_imdb(tmp_path / "few.jsonl", env={})
    assert source.kind == "file"
    assert load_imdb(source, "test").labels.tolist() == [1, 0]


@pytest.mark.parametrize(
    "rows, message",
    [
        (["{broken"], r":1: not JSON"),
        ([{"text": "ok", "label": 1}, {"text": 3, "label": 1}], r":2: each row needs"),
        ([{"text": "ok", "label": 5}], r":1: each row needs"),
        ([], "holds no reviews"),
    ],
)
def test_bad_jsonl_rows_name_the_line(tmp_path, rows, message):
    _write_jsonl(tmp_path / "bad.jsonl.gz", rows)
    with pytest.raises(InputFileError, match=message):
        read_jsonl(tmp_path / "bad.jsonl.gz")


def test_corrupt_gzip_is_a_one_line_error(tmp_path):
    (tmp_path / "corrupt.jsonl.gz").write_bytes(b"\x1f\x8b\x08\x00garbage" * 10)
    with pytest.raises(InputFileError, match="cannot read"):
        read_jsonl(tmp_path / "corrupt.jsonl.gz")
