"""photo-coco: a training-free grounding engine for everyday photos (issue 10).

Pipeline: a COCO-80 detector (CenterNet-MobileNetV3, converted to ONNX by
scripts/convert_photo_models.py, run by onnxruntime) finds objects once per image; the expression
is parsed by rules (:mod:`.parser`), its head noun mapped to the 80 classes by a synonym list and
the shipped MiniLM text encoder (:mod:`.vocab`); :mod:`.chooser` picks the referred object(s) by
class, colour (measured on the object's pixels), position, size, order and relations to other
detected objects; :mod:`.masks` turns the chosen box into a mask. :class:`.engine.PhotoPredictor`
puts it behind the Predictor interface (``set_image`` / ``predict``).
"""

NAME = "photo-coco"
