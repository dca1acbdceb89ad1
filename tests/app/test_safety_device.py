"""Safety: a device that fails reverts to the one that works; a saved one that fails at start falls
back to auto, says so, and the saved setting is corrected (issue 11)."""

import pytest

from app import dialogs

pytestmark = pytest.mark.gui


@pytest.fixture
def no_cuda(monkeypatch):
    from rismodel import predictor

    monkeypatch.setattr(predictor.torch.cuda, "is_available", lambda: False)  # this machine has no CUDA


def test_choosing_cuda_without_cuda_reverts_to_the_device_that_works(qtbot, make_window, no_cuda, messages):
    w = make_window()
    assert w.device == "auto"
    w.actions["device_cuda"].trigger()  # Model > Device: CUDA
    qtbot.waitUntil(lambda: len(messages) == 1, timeout=30_000)
    title, text = messages[0]
    assert title == "Model" and "CUDA" in text and "set back to auto" in text
    assert w.device == "auto" and w.actions["device_auto"].isChecked()
    assert dialogs.settings().value("device") == "auto"  # the failed choice is not remembered
    # The next model switch works (it used to fail on the saved CUDA choice).
    w.use_lgformer()
    qtbot.waitUntil(lambda: w.status_model.text().startswith("lgformer-compact") and not w.busy.isVisible(),
                    timeout=30_000)
    assert w.model_info["device"] == "cpu" and len(messages) == 1


def test_a_saved_cuda_device_unavailable_at_start_falls_back_to_auto(qtbot, make_window, no_cuda, messages):
    s = dialogs.settings()
    s.setValue("device", "cuda")  # saved by an earlier session (or --device cuda)
    s.sync()
    w = make_window()  # waits until a model is loaded
    assert w.model_info is not None and w.device == "auto" and w.actions["device_auto"].isChecked()
    assert [t for t, _ in messages] == ["Model"] and "set back to auto" in messages[0][1]
    assert dialogs.settings().value("device") == "auto"
