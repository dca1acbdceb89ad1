"""The inference worker: owns the Predictor, runs on its own QThread, never touches widgets.

Threading model (docs/adr/0001-gui-threading.md):

- The GUI calls :meth:`InferenceWorker.request` (and the model/batch requests) from its own
  thread. They only store the request under a lock and post a wake-up event to the worker thread;
  they never wait.
- Each wake-up takes the *newest* pending request and forgets older ones (coalescing): while a
  prediction runs, the user may type ten more letters; only the last text is computed next.
- Results go back through queued signals tagged with the request's sequence number; the GUI drops
  any result whose number is not its latest request.
- ``rismodel.predictor`` (and so torch) is imported lazily inside the worker thread, so importing
  the app's modules never imports torch.
"""

from __future__ import annotations

import threading
import time
import traceback
from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import QObject, Qt, QThread, Signal, Slot


@dataclass
class LiveRequest:
    seq: int
    key: str
    image: np.ndarray  # [H, W, 3] uint8 upright, shared read-only with the GUI
    text: str


@dataclass
class BatchRequest:
    images: list[tuple[str, str]]  # (image key, file path)
    expressions: list[str]
    threshold: float
    propose: bool = False  # photo-coco as the teacher: propose every object it can name


def _message(e: BaseException) -> str:
    name = type(e).__name__
    if name == "OutOfMemoryError" or isinstance(e, MemoryError):
        return f"Out of memory: {e}. Try the CPU device or a smaller image."
    return str(e) or name


class InferenceWorker(QObject):
    result = Signal(int, str, object)  # seq, image key, dict(prob, score, latency_ms, device, ...)
    error = Signal(int, str)  # seq, message
    modelLoaded = Signal(object)  # Predictor.info() dict
    modelFailed = Signal(str)
    batchProgress = Signal(int, int)  # done, total (image count)
    # key, expression (or (label, [expressions]) for a proposal), mask [H, W] bool, score
    batchItem = Signal(str, object, object, float)
    batchFinished = Signal(bool, str)  # cancelled, error message ('' when none)
    _wake = Signal()

    def __init__(self):
        super().__init__()
        self._lock = threading.Lock()
        self._live: LiveRequest | None = None
        self._model: tuple[str, str, bool] | None = None
        self._batch: BatchRequest | None = None
        self._cancel = threading.Event()
        self._predictor = None
        self._loaded: tuple | None = None
        self._image_key: tuple | None = None
        self._wake.connect(self._process, Qt.QueuedConnection)

    # ----- called from the GUI thread: store and post, never wait ---------------------------
    def request(self, seq: int, key: str, image: np.ndarray, text: str) -> None:
        with self._lock:
            self._live = LiveRequest(seq, key, image, text)
        self._wake.emit()

    def load_model(self, spec: str, device: str = "auto", allow_random: bool = False) -> None:
        with self._lock:
            self._model = (spec, device, allow_random)
            self._live = None  # a result from the old model would be stale anyway
        self._wake.emit()

    def run_batch(self, request: BatchRequest) -> None:
        self._cancel.clear()
        with self._lock:
            self._batch = request
        self._wake.emit()

    def cancel_batch(self) -> None:
        self._cancel.set()

    # ----- worker thread --------------------------------------------------------------------
    @Slot()
    def _process(self) -> None:
        with self._lock:
            model, self._model = self._model, None
        if model is not None:
            self._load(*model)
        with self._lock:
            live, self._live = self._live, None
        if live is not None:
            self._predict(live)
        with self._lock:
            batch, self._batch = self._batch, None
        if batch is not None:
            self._run_batch(batch)

    def _load(self, spec, device, allow_random) -> None:
        if self._predictor is not None and self._loaded == (spec, device, allow_random):
            self.modelLoaded.emit(self._predictor.info())  # already loaded: a new window reuses it
            return
        try:
            from rismodel.predictor import Predictor  # lazy: torch is imported here, in this thread

            predictor = Predictor.load(spec, device=device, allow_random=allow_random)
            self._predictor = predictor  # only now: a bad checkpoint keeps the previous model working
            self._loaded = (spec, device, allow_random)
            self._image_key = None
            self.modelLoaded.emit(self._predictor.info())
        except Exception as e:  # noqa: BLE001 - any failure becomes a message, the app goes on
            traceback.print_exc()
            self.modelFailed.emit(f"Cannot load model '{spec}' on {device}: {_message(e)}")

    def _set_image(self, key: tuple, image: np.ndarray) -> None:
        if self._image_key != key:
            self._image_key = None
            self._predictor.set_image(image)
            self._image_key = key

    def _predict(self, req: LiveRequest) -> None:
        if self._predictor is None:
            self.error.emit(req.seq, "No model is loaded (choose one in the Model menu).")
            return
        try:
            self._set_image((req.key, id(req.image), req.image.shape), req.image)
            p = self._predictor.predict(req.text)
            out = {"prob": p.prob, "score": p.score, "latency_ms": p.latency_ms, "device": p.device,
                   "truncated": p.truncated, "text": req.text, "explanation": p.explanation,
                   "rejects_absent": self._predictor.rejects_absent}
            self.result.emit(req.seq, req.key, out)
        except Exception as e:  # noqa: BLE001
            self.error.emit(req.seq, f"Inference failed: {_message(e)}")

    def _run_batch(self, req: BatchRequest) -> None:
        from rismodel.imageio import load_image

        if self._predictor is None:
            self.batchFinished.emit(False, "No model is loaded.")
            return
        if req.propose and not hasattr(self._predictor, "propose"):
            self.batchFinished.emit(False, "Only the photo-coco model proposes objects (Model menu).")
            return
        errors = []
        for i, (key, path) in enumerate(req.images):
            if self._cancel.is_set():
                self.batchFinished.emit(True, "")
                return
            try:
                image = load_image(path)
                self._set_image((key, "batch", time.monotonic()), image)
                if req.propose:
                    for obj, score in self._predictor.propose(with_scores=True):
                        self.batchItem.emit(key, (obj.label, list(obj.expressions)), obj.mask, score)
                for text in req.expressions:
                    p = self._predictor.predict(text, threshold=req.threshold)
                    if p.mask.any():
                        self.batchItem.emit(key, text, p.mask, float(p.score))
            except Exception as e:  # noqa: BLE001 - one bad image must not stop the batch
                errors.append(f"{key}: {_message(e)}")
            self._image_key = None
            self.batchProgress.emit(i + 1, len(req.images))
        self.batchFinished.emit(False, "\n".join(errors))


class WorkerThread:
    """The worker and its QThread, started together and stopped together."""

    def __init__(self):
        self.thread = QThread()
        self.thread.setObjectName("inference")
        self.worker = InferenceWorker()
        self.worker.moveToThread(self.thread)
        self.thread.start()

    def stop(self, timeout_ms: int = 10000, patience_ms: int = 120000) -> bool:
        """Stop after the current step. A model load or an inference in flight finishes first: a
        QThread destroyed while it runs aborts the whole process (seen when quitting during a slow
        model load), so wait ``timeout_ms``, then up to ``patience_ms`` more. False: still running
        (the caller exits without destroying it)."""
        self.worker.cancel_batch()
        self.thread.quit()
        return self.thread.wait(timeout_ms) or self.thread.wait(patience_ms)
