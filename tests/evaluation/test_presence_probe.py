"""scripts/presence_probe.py --count: the phrasing prior of a dataset, counted as the probe asks it."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _probe():
    spec = importlib.util.spec_from_file_location("presence_probe", ROOT / "scripts" / "presence_probe.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _write(root: Path, refs: list[dict]) -> None:
    (root / "synthref").mkdir(parents=True)
    cats = [{"id": 1, "name": "star"}, {"id": 2, "name": "circle"}]
    anns = [{"id": 1, "image_id": 1, "category_id": 1}, {"id": 2, "image_id": 1, "category_id": 2},
            {"id": 3, "image_id": 1, "category_id": 2}]
    (root / "synthref" / "instances.json").write_text(json.dumps(
        {"images": [{"id": 1}], "annotations": anns, "categories": cats}))
    (root / "synthref" / "grefs(unc).json").write_text(json.dumps(refs))


def _ref(split: str, no_target: bool, *texts: str) -> dict:
    return {"image_id": 1, "split": split, "no_target": no_target, "sentences": [{"raw": t} for t in texts]}


def test_count_takes_only_colour_and_unique_shape_sentences_of_the_split(tmp_path, capsys):
    probe = _probe()
    _write(tmp_path, [
        _ref("train", False, "the red star", "red star", "the star", "the large red star"),
        _ref("train", False, "the blue circle"),            # two circles: not unique, not counted
        _ref("train", True, "the blue star", "blue star", "green star", "the purple circle"),
        _ref("test", True, "the blue star"),                # another split
    ])
    counts = probe.count_phrasings(tmp_path, "train", shortest_prob=0.5)
    assert {k: n for k, (n, _) in counts.items()} == {(False, True): 1, (False, False): 1, (True, True): 1,
                                                      (True, False): 2}
    # drawn per epoch: "red star" ties "the star" for shortest but comes first, so 0.5 + 0.5/4;
    # "the red star" only by the uniform draw, 0.5/4; in the no-target ref "blue star" is the
    # shortest (0.5 + 0.5/4), "green star" and "the blue star" 0.5/4 each
    assert counts[(False, False)][1] == 0.625 and counts[(False, True)][1] == 0.125
    assert counts[(True, False)][1] == 0.75 and counts[(True, True)][1] == 0.125
    assert probe.count_phrasings(tmp_path, "train", shortest_prob=0.0)[(True, False)][1] == 0.5
    assert probe.count_phrasings(tmp_path, "test")[(True, True)][0] == 1
    assert probe.main(["--count", "--data-root", str(tmp_path)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[-1].split()[:3] == ["no-target,", "bare:", "2"] and abs(float(out[-1].split()[3]) - 0.75) < 0.06


def test_hard_negatives_add_false_colour_shape_phrasings(tmp_path):
    from rismodel.cli import main
    probe = _probe()
    for name, extra in (("plain", []), ("hard", ["--hard-negatives", "2"])):
        assert main(["synth", "--out", str(tmp_path / name), "--images", "16", "--seed", "3", "--overspecify",
                     *extra]) == 0
    assert main(["synth", "--out", str(tmp_path / "own"), "--images", "16", "--seed", "3", "--overspecify",
                 "--overspecify-own-ref"]) == 0
    plain = probe.count_phrasings(tmp_path / "plain", "train")
    hard = probe.count_phrasings(tmp_path / "hard", "train")
    own = probe.count_phrasings(tmp_path / "own", "train")
    assert plain[(False, True)][0] > 0 and plain[(False, False)][0] > 0   # --overspecify: both forms of true
    assert hard[(True, True)][0] + hard[(True, False)][0] > plain[(True, True)][0] + plain[(True, False)][0]
    # own refs: the same true sentences, each drawn every epoch instead of now and then
    for key in ((False, True), (False, False)):
        assert own[key][0] == plain[key][0] and own[key][1] == own[key][0] > 2 * plain[key][1]
