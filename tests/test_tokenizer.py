import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rnnx.models.text.tokenizer import OOV_INDEX, WordTokenizer, auto_max_tokens, split_words


@pytest.mark.parametrize(
    "text, words",
    [
        ("A great<br /><br />film!", ["a", "great", "film"]),
        ("Don't   stop... it's 10/10", ["don't", "stop", "it's", "10", "10"]),
        ("Don\u2019t", ["don't"]),
        ("'quoted' words", ["quoted", "words"]),
        ("snake_case-and dashes", ["snake", "case", "and", "dashes"]),
        ("Café AMÉLIE", ["café", "amélie"]),
        ("<BR>line<br/>break", ["line", "break"]),
        ("?!...", []),
    ],
)
def test_split_words_known_answers(text, words):
    assert split_words(text) == words


def test_fit_ranks_by_count_then_alphabet_and_reserves_pad_and_oov():
    tokenizer = WordTokenizer.fit(["b a c", "b a", "b d"], num_words=5, max_tokens=4)
    # counts: b=3, a=2, c=1, d=1 -> ties broken alphabetically; room for 3 words
    assert tokenizer.vocabulary == ["b", "a", "c"]
    assert tokenizer.word_ids("b a c d") == [2, 3, 4, OOV_INDEX]


def test_encode_pads_and_truncates_at_the_front():
    tokenizer = WordTokenizer(["one", "two", "three"], max_tokens=3)
    ids = tokenizer.encode(["two", "one two three one"])
    assert ids.dtype == np.int32
    assert ids.tolist() == [[0, 0, 3], [3, 4, 2]]


def test_post_padding_keeps_words_in_front_and_round_trips(tmp_path):
    tokenizer = WordTokenizer(["one", "two", "three"], max_tokens=3, padding="post")
    assert tokenizer.encode(["two", "one two three one"]).tolist() == [[3, 0, 0], [3, 4, 2]]
    tokenizer.save(tmp_path / "t.json")
    assert WordTokenizer.load(tmp_path / "t.json").padding == "post"
    with pytest.raises(ValueError, match="padding must be one of"):
        WordTokenizer(["one"], max_tokens=3, padding="middle")


def test_auto_max_tokens_is_ceil_mean_plus_two_std():
    lengths = [10, 20, 30]
    expected = int(np.ceil(np.mean(lengths) + 2 * np.std(lengths)))
    assert auto_max_tokens(lengths) == expected == 37


def test_round_trip_through_json(tmp_path):
    tokenizer = WordTokenizer.fit(["x y z", "y z", "z"], num_words=10, max_tokens=5)
    tokenizer.save(tmp_path / "t.json")
    again = WordTokenizer.load(tmp_path / "t.json")
    assert again.vocabulary == tokenizer.vocabulary == ["z", "y", "x"]
    assert again.num_words == 10 and again.max_tokens == 5
    assert again.encode(["x q z"]).tolist() == tokenizer.encode(["x q z"]).tolist() == [[0, 0, 4, 1, 2]]


@pytest.mark.parametrize(
    "data, message",
    [
        ({"type": "other"}, "not an rnnx word tokenizer"),
        ({"type": "rnnx.word_tokenizer", "version": 99}, "unsupported tokenizer version"),
    ],
)
def test_from_dict_rejects_foreign_data(data, message):
    with pytest.raises(ValueError, match=message):
        WordTokenizer.from_dict(data)


def test_load_rejects_non_json(tmp_path):
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ValueError, match="is not JSON"):
        WordTokenizer.load(tmp_path / "bad.json")


def test_constructor_rejects_duplicates_and_small_num_words():
    with pytest.raises(ValueError, match="duplicated"):
        WordTokenizer(["a", "a"], max_tokens=2)
    with pytest.raises(ValueError, match="too small"):
        WordTokenizer(["a", "b"], max_tokens=2, num_words=3)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.text(max_size=40), min_size=1, max_size=6))
def test_encode_shape_and_id_range_for_any_text(texts):
    tokenizer = WordTokenizer(["the", "a", "film"], max_tokens=7, num_words=9)
    ids = tokenizer.encode(texts)
    assert ids.shape == (len(texts), 7)
    assert ids.min() >= 0 and ids.max() < 9
    for row, text in zip(ids, texts):
        kept = min(len(split_words(text)), 7)
        assert np.count_nonzero(row) == kept  # padding only at the front, every word has an id >= 1
        assert (row[: 7 - kept] == 0).all()


def test_vocabulary_on_real_reviews_holds_the_most_frequent_words(imdb_test):
    import collections

    texts = imdb_test.head(500).texts
    tokenizer = WordTokenizer.fit(texts, num_words=50)
    counts = collections.Counter(word for text in texts for word in split_words(text))
    vocabulary = tokenizer.vocabulary
    assert len(vocabulary) == 48 and vocabulary[0] == "the"
    in_order = [counts[word] for word in vocabulary]
    assert in_order == sorted(in_order, reverse=True)
    left_out = max(count for word, count in counts.items() if word not in set(vocabulary))
    assert left_out <= in_order[-1]
    assert "br" not in vocabulary  # HTML line breaks are not words
