"""Regenerate the demo files: synthetic scenes (rismodel synth) and three CC0/public-domain photos.

    python resources/demo/make_demo.py [SKIMAGE_DATA_DIR]

The photos come from scikit-image's bundled sample data (see resources/LICENSES.md); pass the
``skimage/data`` folder of an extracted scikit-image wheel (``pip download scikit-image``) to redo
them. scikit-image is not a dependency of the project.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from PIL import Image

from rismodel.data.synth import generate_image

HERE = Path(__file__).resolve().parent
SEED, INDICES = 7, (0, 1, 2, 3)


TOKEN_BUDGET = 20  # the paper's budget (the compact-v2 models take 40): every demo phrase fits either


def scenes() -> None:
    """The scenes and expressions.txt: per object its first sentence that fits TOKEN_BUDGET tokens,
    then, under "# absent", one expression that names nothing in the scene (the answer is no mask)."""
    from rismodel.modeling.text_encoder import TextEncoder
    from rismodel.registry import get_config

    tokenizer = TextEncoder(get_config("lgformer-compact").text).tokenizer

    def fits(sentence: str) -> bool:  # [CLS] and [SEP] included, as the models count
        return len(tokenizer(sentence)["input_ids"]) <= TOKEN_BUDGET
    lines = []
    for n, i in enumerate(INDICES, start=1):
        item = generate_image(SEED, i, (360, 480))
        name = f"synth_scene_{n}.jpg"
        Image.fromarray(item["scene"].image).save(HERE / name, quality=94)  # PNG of the noisy backgrounds is ~500 KB
        lines.append(f"# {name}")
        lines += [next(s for s in group if fits(s)) for group in item["singles"]]
        lines += ["# absent", *item["nones"][:1]]
        lines.append("")
    (HERE / "expressions.txt").write_text("\n".join(lines), encoding="utf-8")


def photos(data: Path) -> None:
    for name in ("coffee", "chelsea", "astronaut"):
        Image.open(data / f"{name}.png").convert("RGB").save(HERE / f"{name}.jpg", quality=88)
    # The coffee photo again, stored sideways with EXIF orientation 6: viewers must show it upright.
    img = Image.open(data / "coffee.png").convert("RGB").transpose(Image.Transpose.ROTATE_90)
    exif = Image.Exif()
    exif[0x0112] = 6
    img.save(HERE / "coffee_exif_rotated.jpg", quality=88, exif=exif.tobytes())


if __name__ == "__main__":
    scenes()
    if len(sys.argv) > 1:
        photos(Path(sys.argv[1]))
    print(sorted(p.name for p in HERE.iterdir()))
    assert all(p.stat().st_size < 300_000 for p in HERE.iterdir()), "keep every demo file under 300 KB"
    _ = np  # numpy is used by the generator; imported here to fail early if missing
