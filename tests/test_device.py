"""Device placement of NeurIFRegressor (skorch ``device``) and ``check_device``.

The CUDA tests run only where ``torch.cuda.is_available()``; everything else
(placement on CPU, pickles of nets that asked for CUDA, device validation)
runs on the CPU-only CI machine.
"""

import pickle

import numpy as np
import pytest
import torch
from skorch.exceptions import DeviceWarning

from sklearn_neurif import NeurIFRegressor
from sklearn_neurif.datasets import make_conditional_factor_panel
from sklearn_neurif.neurif._module import NeurIFModule
from sklearn_neurif.nn._device import check_device

needs_cuda = pytest.mark.skipif(
    not torch.cuda.is_available(),
    reason="no CUDA device (torch.cuda.is_available() is False)",
)

PARAMS = dict(n_factors=2, window=2, hidden_size=8, max_epochs=2, random_state=0)


@pytest.fixture(scope="module")
def data():
    return make_conditional_factor_panel(40, 30, 4, 2, random_state=0)


@pytest.fixture(scope="module")
def cpu_model(data):
    return NeurIFRegressor(device="cpu", **PARAMS).fit(data.X, data.y)


def _record_input_devices(monkeypatch):
    """Spy on NeurIFModule.forward: the device of every tensor it receives."""
    seen = []
    forward = NeurIFModule.forward

    def spy(self, *args, **kwargs):
        tensors = [v for v in (*args, *kwargs.values()) if torch.is_tensor(v)]
        seen.extend(t.device for t in tensors)
        return forward(self, *args, **kwargs)

    monkeypatch.setattr(NeurIFModule, "forward", spy)
    return seen


def _parameter_devices(est):
    return {p.device for p in est.net_.module_.parameters()}


def test_cpu_parameters_and_batches_on_cpu(data, monkeypatch):
    seen = _record_input_devices(monkeypatch)
    est = NeurIFRegressor(device="cpu", **PARAMS).fit(data.X, data.y)
    n_train_calls = len(seen)
    pred = est.predict(data.X)

    assert _parameter_devices(est) == {torch.device("cpu")}
    assert n_train_calls > 0 and len(seen) > n_train_calls  # fit and predict
    assert {d.type for d in seen} == {"cpu"}
    assert isinstance(pred, np.ndarray) and pred.shape == (len(data.X),)
    assert np.isfinite(pred).all()


def test_cpu_pickle_round_trip_predicts_identically(data, cpu_model):
    loaded = pickle.loads(pickle.dumps(cpu_model))
    assert _parameter_devices(loaded) == {torch.device("cpu")}
    np.testing.assert_array_equal(loaded.predict(data.X), cpu_model.predict(data.X))


def test_pickle_of_a_cuda_net_loads_on_cpu_without_cuda(data, cpu_model, monkeypatch):
    # A model saved on a GPU machine records device "cuda" in its net. On a
    # machine without CUDA skorch maps its tensors to the CPU (DeviceWarning)
    # and switches the net to "cpu". Simulated here: the net says "cuda", the
    # loader sees no CUDA (the tensors themselves are CPU tensors; the real
    # GPU -> CPU case is test_cuda_pickle_loads_on_cpu below).
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    saved = pickle.loads(pickle.dumps(cpu_model))
    saved.net_.device = "cuda"
    blob = pickle.dumps(saved)
    with pytest.warns(DeviceWarning, match="(?i)cuda"):
        loaded = pickle.loads(blob)
    assert torch.device(loaded.net_.device) == torch.device("cpu")
    assert _parameter_devices(loaded) == {torch.device("cpu")}
    np.testing.assert_array_equal(loaded.predict(data.X), cpu_model.predict(data.X))


@needs_cuda
def test_cuda_parameters_on_gpu_and_numpy_predictions(data, monkeypatch):
    seen = _record_input_devices(monkeypatch)
    est = NeurIFRegressor(device="cuda", **PARAMS).fit(data.X, data.y)
    pred = est.predict(data.X)
    assert {d.type for d in _parameter_devices(est)} == {"cuda"}
    assert seen and {d.type for d in seen} == {"cuda"}
    assert isinstance(pred, np.ndarray) and pred.shape == (len(data.X),)
    assert np.isfinite(pred).all()
    assert isinstance(est.gamma_.to_numpy(), np.ndarray)


@needs_cuda
def test_cuda_pickle_loads_on_cpu(data, monkeypatch):
    est = NeurIFRegressor(device="cuda", **PARAMS).fit(data.X, data.y)
    blob = pickle.dumps(est)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.warns(DeviceWarning):
        loaded = pickle.loads(blob)
    assert _parameter_devices(loaded) == {torch.device("cpu")}
    # Same weights, different kernels: equal up to float32 rounding.
    np.testing.assert_allclose(
        loaded.predict(data.X), est.predict(data.X), rtol=1e-4, atol=1e-6
    )


@needs_cuda
def test_cuda_model_moved_to_cpu_in_place(data):
    est = NeurIFRegressor(device="cuda", **PARAMS).fit(data.X, data.y)
    on_gpu = est.predict(data.X)
    # The recipe of docs/distributed.md for CPU inference on a GPU machine.
    est.net_.module_.to("cpu")
    est.net_.set_params(device="cpu")
    est.set_params(device="cpu")
    assert _parameter_devices(est) == {torch.device("cpu")}
    np.testing.assert_allclose(est.predict(data.X), on_gpu, rtol=1e-4, atol=1e-6)


# ------------------------------------------------------------- check_device
@pytest.mark.parametrize(
    "device, expected",
    [
        ("cpu", torch.device("cpu")),
        ("cpu:0", torch.device("cpu", 0)),
        (torch.device("cpu"), torch.device("cpu")),
    ],
)
def test_check_device_accepts_cpu(device, expected):
    assert check_device(device) == expected


@pytest.mark.parametrize("device", ["gpu0", "cuda:abc", "CPU", "cuda:-1", " cpu", ""])
def test_check_device_rejects_malformed_strings(device):
    with pytest.raises(ValueError, match="not a valid torch device") as info:
        check_device(device)
    message = str(info.value)
    assert repr(device) in message  # names the bad value
    assert "'cpu', 'cuda', 'cuda:N'" in message  # and the accepted forms


@pytest.mark.parametrize("device", ["meta", "xla"])
def test_check_device_rejects_unsupported_types(device):
    with pytest.raises(ValueError, match=f"{device!r}.*not supported"):
        check_device(device)


@pytest.mark.parametrize("device", [None, 0, 1.5])
def test_check_device_rejects_non_strings(device):
    with pytest.raises(TypeError, match="device must be a string"):
        check_device(device)


@pytest.mark.parametrize("device", ["cuda", "cuda:0", "cuda:1"])
def test_check_device_cuda_unavailable(device, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError, match="CUDA is not available") as info:
        check_device(device)
    assert repr(device) in str(info.value)


def test_check_device_cuda_index_beyond_visible_gpus(monkeypatch):
    # Pretend one GPU is visible: index 0 passes, index 1 does not.
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    assert check_device("cuda") == torch.device("cuda")
    assert check_device("cuda:0") == torch.device("cuda", 0)
    with pytest.raises(ValueError, match=r"only 1 CUDA device\(s\)"):
        check_device("cuda:1")


def test_check_device_mps_unavailable(monkeypatch):
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    with pytest.raises(ValueError, match="MPS backend is not available"):
        check_device("mps")


@pytest.mark.parametrize(
    "device, match",
    [
        ("gpu0", "not a valid torch device"),
        ("cuda:abc", "not a valid torch device"),
        ("cuda", "CUDA is not available"),
    ],
)
def test_estimator_rejects_bad_device_before_training(data, device, match, monkeypatch):
    # The device is checked first: even with a NaN in X (which fit would
    # reject next) the error is about the device, and no batch reaches the
    # module.
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    started = _record_input_devices(monkeypatch)
    X = data.X.copy()
    X.iloc[0, 0] = np.nan
    with pytest.raises(ValueError, match=match) as info:
        NeurIFRegressor(device=device, **PARAMS).fit(X, data.y)
    assert repr(device) in str(info.value)
    assert not started


# ------------------------------------------------ batches made on the device
def _device_batches(batcher, months_list):
    return [batcher.batch(m) for m in months_list]


def test_batches_gathered_from_a_device_copy_equal_numpy_batches(data):
    """The device path (characteristics copied once, rows gathered there)."""
    from sklearn_neurif.nn._batching import PanelBatcher
    from sklearn_neurif.panel import PanelLayout

    Z = np.asarray(data.X, dtype=np.float32)
    batcher = PanelBatcher(Z, PanelLayout(data.X.index), 3, data.y.to_numpy())
    months = [[0, 1, 2], [7, 8, 9, 10], [29]]
    expected = _device_batches(batcher, months)
    # What .to("cuda") does, with a CPU tensor (pinning needs CUDA).
    batcher._Z_device = torch.tensor(Z)
    got = _device_batches(batcher, months)
    for a, b in zip(got, expected, strict=True):
        assert a.keys() == b.keys()
        for key in a:
            torch.testing.assert_close(a[key], b[key], rtol=0, atol=0)
    assert batcher.to("cpu")._Z_device is None
    assert "_Z_device" not in batcher.__getstate__()


def test_mixed_precision_stays_close_to_float32(data):
    """bfloat16 autocast (on CPU here): outputs float32, predictions close."""
    full = NeurIFRegressor(**PARAMS).fit(data.X, data.y)
    mixed = NeurIFRegressor(mixed_precision=True, **PARAMS).fit(data.X, data.y)
    assert mixed.net_.mixed_precision and not full.net_.mixed_precision
    a, b = full.predict(data.X), mixed.predict(data.X)
    assert b.dtype == np.float64 and np.isfinite(b).all()
    # Measured: 0.6% of the largest prediction after 2 epochs, correlation 0.99999.
    assert np.abs(a - b).max() <= 0.03 * np.abs(a).max()
    assert np.corrcoef(a, b)[0, 1] > 0.999


@needs_cuda
def test_cuda_batches_are_made_on_the_gpu(data):
    from sklearn_neurif.nn._batching import PanelBatcher
    from sklearn_neurif.panel import PanelLayout

    Z = np.asarray(data.X, dtype=np.float32)
    batcher = PanelBatcher(Z, PanelLayout(data.X.index), 3, data.y.to_numpy())
    expected = batcher.batch([4, 5, 6])
    got = batcher.to("cuda").batch([4, 5, 6])
    for key, value in got.items():
        assert value.device.type == "cuda"
        torch.testing.assert_close(value.cpu(), expected[key], rtol=0, atol=0)


@needs_cuda
def test_cuda_mixed_precision_fit(data):
    full = NeurIFRegressor(device="cuda", **PARAMS).fit(data.X, data.y)
    mixed = NeurIFRegressor(device="cuda", mixed_precision=True, **PARAMS)
    a, b = full.predict(data.X), mixed.fit(data.X, data.y).predict(data.X)
    assert np.abs(a - b).max() <= 0.03 * np.abs(a).max()
