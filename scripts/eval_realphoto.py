#!/usr/bin/env python
"""`rismodel eval` on resources/realphoto/ per expression type (class, colour, position,
relation) and overall, for photo-coco, both compact defaults and the trivial baselines; prints
a markdown table (oIoU / mIoU) and writes it as JSON with --json.

Each type's expressions go to a temporary COCO file (same photos, same objects, only that type's
expressions); every run is the ordinary CLI, at the photos' original resolution.

    python scripts/eval_realphoto.py [--json results/realphoto.json]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SET = ROOT / "resources" / "realphoto" / "realphoto.json"
WHO = [("model", "photo-coco"), ("model", "lgformer-compact"), ("model", "lqmformer-compact"),
       ("baseline", "largest-object"), ("baseline", "whole-image")]
TYPES = ("class", "colour", "position", "relation")


def subset(data: dict, kind: str | None) -> dict:
    out = json.loads(json.dumps(data))
    for ann in out["annotations"]:
        pairs = list(zip(ann["expressions"], ann["expression_types"]))
        ann["expressions"] = [e for e, t in pairs if kind is None or t == kind]
        ann["expression_types"] = [t for e, t in pairs if kind is None or t == kind]
    return out


def main() -> int:
    sys.path.insert(0, str(ROOT))
    from rismodel.cli import main as cli

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--json", type=Path)
    p.add_argument("--only", nargs="*", help="names from: " + ", ".join(n for _, n in WHO))
    a = p.parse_args()
    data = json.loads(SET.read_text())
    results: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        files = {}
        for kind in (None, *TYPES):
            f = Path(tmp) / f"{kind or 'all'}.json"
            f.write_text(json.dumps(subset(data, kind)))
            files[kind or "all"] = f
        for flag, name in WHO:
            if a.only and name not in a.only:
                continue
            results[name] = {}
            for kind, f in files.items():
                out = Path(tmp) / "m.json"
                with contextlib.redirect_stdout(io.StringIO()):
                    rc = cli(["eval", f"--{flag}", name, "--coco", str(f), "--images", str(SET.parent),
                              "--resolution", "original", "--quiet", "--json", str(out)])
                if rc:
                    raise SystemExit(f"rismodel eval --{flag} {name} on {kind} failed ({rc})")
                r = json.loads(out.read_text())
                results[name][kind] = {"oIoU": r["metrics"]["oIoU"], "mIoU": r["metrics"]["mIoU"],
                                       "expressions": r["expressions"]}
            print(f"done: {name}", file=sys.stderr)
    kinds = ["all", *TYPES]
    first = next(iter(results.values()))
    print("| model | " + " | ".join(f"{k} ({first[k]['expressions']})" for k in kinds) + " |")
    print("|---|" + "---:|" * len(kinds))
    for name, r in results.items():
        print(f"| {name} | " + " | ".join(f"{100 * r[k]['oIoU']:.1f} / {100 * r[k]['mIoU']:.1f}" for k in kinds) + " |")
    print("\n(oIoU / mIoU, %, original resolution; number of expressions in brackets)")
    if a.json:
        from rismodel.fileio import atomic_write_json

        atomic_write_json(a.json, results, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
