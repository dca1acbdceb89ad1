"""The shipped checkpoints' outputs on a demo image are pinned (tests/modeling/data/shipped_reference.json),
so a code change that alters what a user of the defaults gets is caught. The checkpoints embed their
configs; a new model option must default (key absent) to what they were trained with.

The reference was taken from the issue-9 checkpoints when they replaced the first defaults; rewrite
it only when the shipped files change on purpose: ``python tests/modeling/test_shipped_outputs.py``."""

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
REFERENCE_FILE = Path(__file__).parent / "data" / "shipped_reference.json"
NAMES = ("lgformer-compact", "lqmformer-compact")
TEXTS = ("the cat", "the red circle on the left")


def _outputs(name: str) -> dict[str, dict]:
    """Presence score and a 24x24 grid of the probability map per text, on the chelsea photo."""
    from rismodel.predictor import Predictor

    p = Predictor.load(str(ROOT / "resources" / "models" / f"{name}.safetensors"), device="cpu")
    p.set_image(np.asarray(Image.open(ROOT / "resources" / "demo" / "chelsea.jpg").convert("RGB")))
    out = {}
    for text in TEXTS:
        pr = p.predict(text)
        ys = np.linspace(0, pr.prob.shape[0] - 1, 24).astype(int)
        xs = np.linspace(0, pr.prob.shape[1] - 1, 24).astype(int)
        out[f"{name}|{text}"] = {"prob": pr.prob[np.ix_(ys, xs)].tolist(), "score": pr.score}
    return out


@pytest.mark.parametrize("name", NAMES)
def test_shipped_checkpoint_outputs_are_unchanged(name):
    reference = json.loads(REFERENCE_FILE.read_text())
    got = _outputs(name)
    assert set(got) == {k for k in reference if k.startswith(name + "|")}
    for key, ref in got.items():
        np.testing.assert_allclose(ref["prob"], np.array(reference[key]["prob"]), atol=2e-5, err_msg=key)
        assert ref["score"] == pytest.approx(reference[key]["score"], abs=2e-5), key


if __name__ == "__main__":
    table = {k: v for name in NAMES for k, v in _outputs(name).items()}
    REFERENCE_FILE.write_text(json.dumps(table) + "\n")
    print(f"wrote {REFERENCE_FILE} ({len(table)} entries)")
    sys.exit(0)
