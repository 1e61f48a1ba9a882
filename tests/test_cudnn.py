"""The cuDNN report: which recurrent layers Keras runs on cuDNN, and why not the others."""

import pytest

keras = pytest.importorskip("keras")

from rnnx.models.training.cudnn import cudnn_report  # noqa: E402


def _model(*layers, masked=False):
    inputs = keras.Input((6,), dtype="int32")
    x = keras.layers.Embedding(20, 4, mask_zero=masked)(inputs)
    for layer in layers:
        x = layer(x)
    return keras.Model(inputs, keras.layers.Dense(1)(x))


def test_default_gru_and_lstm_run_on_cudnn_when_a_gpu_is_there():
    model = _model(keras.layers.GRU(4, return_sequences=True, name="g"), keras.layers.LSTM(3, name="l"))
    verdicts = cudnn_report(model, gpu_available=True)
    assert [(v.layer, v.layer_class, v.cudnn, v.reasons) for v in verdicts] == [
        ("g", "GRU", True, ()),
        ("l", "LSTM", True, ()),
    ]
    assert verdicts[0].describe() == "g (GRU): cuDNN"
    on_cpu = cudnn_report(model, gpu_available=False)
    assert [v.cudnn for v in on_cpu] == [False, False]
    assert on_cpu[0].describe() == "g (GRU): generic kernel (no GPU visible to TensorFlow)"


def test_each_configuration_that_keeps_a_layer_off_cudnn_is_named():
    model = _model(
        keras.layers.GRU(4, return_sequences=True, reset_after=False, name="old_gru"),
        keras.layers.LSTM(4, return_sequences=True, recurrent_dropout=0.2, name="dropped"),
        keras.layers.GRU(4, return_sequences=True, activation="relu", unroll=True, name="relu_gru"),
        keras.layers.LSTM(4, return_sequences=True, use_bias=False, use_cudnn=False, name="no_bias"),
        keras.layers.SimpleRNN(4, return_sequences=True, name="simple"),
        keras.layers.RNN(keras.layers.GRUCell(4), return_sequences=True, name="generic"),
        keras.layers.Bidirectional(keras.layers.GRU(3), name="both"),
    )
    verdicts = {v.layer: v for v in cudnn_report(model, gpu_available=True)}
    assert verdicts["old_gru"].reasons == ("reset_after=False (cuDNN has only the reset_after=True GRU)",)
    assert verdicts["dropped"].reasons == ("recurrent_dropout=0.2 (cuDNN needs 0)",)
    assert verdicts["relu_gru"].reasons == ("activation=relu (cuDNN needs tanh)", "unroll=True")
    assert verdicts["no_bias"].reasons == ("use_cudnn=False", "use_bias=False")
    assert verdicts["simple"].reasons == ("Keras has no cuDNN kernel for SimpleRNN",)
    assert "generic RNN layer (GRUCell)" in verdicts["generic"].reasons[0]
    assert verdicts["generic"].layer_class == "RNN(GRUCell)"
    assert verdicts["both/forward"].cudnn and verdicts["both/backward"].cudnn


def test_masked_layers_carry_the_right_padding_condition():
    verdicts = cudnn_report(_model(keras.layers.GRU(4, name="g"), masked=True), gpu_available=True)
    assert verdicts[0].cudnn and "right-padded" in verdicts[0].note
    assert not cudnn_report(_model(keras.layers.GRU(4, name="g")), gpu_available=True)[0].note
