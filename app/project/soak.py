"""Fault soak of autosave: kill -9 at random moments while a project autosaves, and a full disk.

``python -m app.project.soak --kills 200`` (also ``python scripts/soak.py autosave``) prints the
figures; the tests run the same code with a few kills. After every kill the project file must
open and validate, hold every edit the writer had confirmed (at most the one in flight is lost),
and nothing else may be in the folder but the images, the project file and at most the one
temporary file of the killed write (removed by the next process that writes there).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

HELP = "kill -9 an autosaving project at random moments; check the file each time"


def make_folder(folder: Path, n_images: int = 4, size: tuple[int, int] = (300, 200)) -> Path:
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for i in range(n_images):
        Image.fromarray(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)).save(folder / f"img{i}.png")
    return folder


def _blob(rng, h, w) -> np.ndarray:
    yy, xx = np.mgrid[:h, :w]
    m = np.zeros((h, w), bool)
    for _ in range(int(rng.integers(3, 12))):  # ragged outlines: a longer RLE, a longer save
        cy, cx, r = rng.integers(0, h), rng.integers(0, w), rng.integers(5, 40)
        m |= (yy - cy) ** 2 + (xx - cx) ** 2 < r * r
    return m


def child(folder: Path, seed: int) -> None:
    """Add annotations forever (each autosaved); print the total after every confirmed save."""
    from app.project import Project

    p = Project.open([folder])
    keys = [e.key for e in p.images]
    rng = np.random.default_rng(seed)
    total = sum(p.count(k) for k in keys)
    print(f"ready {total}", flush=True)
    while True:
        key = keys[total % len(keys)]
        w, h = p.entry(key).upright_size()
        if total % 7 == 6 and p.count(key):
            p.remove(key, p.annotations(key)[0].id)
            total -= 1
        else:
            p.add(key, "blob", f"blob {total}", _blob(rng, h, w))
            total += 1
        if p.dirty:
            raise SystemExit(f"autosave failed: {p.last_save_error}")
        print(total, flush=True)


@dataclass
class Figures:
    kills: int = 0
    files_checked: int = 0
    intact: int = 0
    edits_confirmed: int = 0
    written_unconfirmed: int = 0  # kills after the save of an edit but before it was confirmed
    leftover_temps_max: int = 0
    failures: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        return [f"kills tried: {self.kills}", f"project files checked: {self.files_checked}",
                f"intact and valid: {self.intact}", f"edits confirmed before the kills: {self.edits_confirmed}",
                f"kills between a save and its confirmation: {self.written_unconfirmed}",
                f"temporary files left at most: {self.leftover_temps_max}", f"failures: {len(self.failures)}"]


def kill_soak(folder: Path, kills: int, seed: int = 0, max_delay: float = 0.6) -> Figures:
    """Start the autosaving child ``kills`` times, kill -9 it at a random moment, check the file."""
    from app.project import PROJECT_FILE, Project, ProjectError

    rnd = random.Random(seed)
    fig = Figures()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).resolve().parents[2]),
                                                          os.environ.get("PYTHONPATH", "")])}
    for k in range(kills):
        proc = subprocess.Popen([sys.executable, "-m", "app.project.soak", "--child", str(folder), "--seed", str(k)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        first = proc.stdout.readline()
        if not first.startswith("ready"):
            proc.kill()
            fig.failures.append(f"kill {k}: the child did not start: {first!r} {proc.stderr.read()[-500:]}")
            proc.wait()
            continue
        time.sleep(rnd.uniform(0.0, max_delay))
        os.kill(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        fig.kills += 1
        confirmed = [int(x) for x in out.split()] or [int(first.split()[1])]
        last = confirmed[-1]
        fig.edits_confirmed += len(confirmed) - 1
        fig.files_checked += 1
        try:
            p = Project.open([folder], autosave=False)
        except ProjectError as e:
            fig.failures.append(f"kill {k}: the project file does not open: {e}")
            continue
        total = sum(p.count(e.key) for e in p.images)
        # The edit after the last confirmed one may have been written or not; nothing else.
        if total == last:
            fig.intact += 1
        elif abs(total - last) == 1:  # the edit in flight was saved, the kill came before the print
            fig.intact += 1
            fig.written_unconfirmed += 1
        else:
            fig.failures.append(f"kill {k}: {total} annotations on disk, {last} confirmed")
        temps = [n for n in os.listdir(folder) if n.endswith(".tmp")]
        fig.leftover_temps_max = max(fig.leftover_temps_max, len(temps))
        if len(temps) > 1:
            fig.failures.append(f"kill {k}: {len(temps)} temporary files left: {temps}")
        del p
        if not (folder / PROJECT_FILE).exists() and last > 0:
            fig.failures.append(f"kill {k}: the project file is gone")
    return fig


def full_disk(folder: Path) -> dict:
    """In a child limited to the current file size (RLIMIT_FSIZE, as a full disk): an edit's
    autosave fails, the user is told, the edits stay in memory, the file on disk is the last good one."""
    from app.project import PROJECT_FILE

    code = f"""
import json, resource, signal, sys
import numpy as np
from app.project import Project
p = Project.open([{str(folder)!r}])
errors = []
p.error_listeners.append(errors.append)
size = p.file.stat().st_size if p.file.exists() else 0
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (size + 64, resource.RLIM_INFINITY))
key = p.images[0].key
w, h = p.entry(key).upright_size()
rng = np.random.default_rng(0)
p.add(key, "noise", "noisy", rng.random((h, w)) < 0.5)
print(json.dumps({{"errors": errors, "dirty": p.dirty, "count": p.count(key)}}))
"""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    file = folder / PROJECT_FILE
    before = file.read_bytes() if file.exists() else None
    out = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True, env=env, timeout=120)
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-2000:])
    result = json.loads(out.stdout.strip().splitlines()[-1])
    result["file_unchanged"] = (file.read_bytes() if file.exists() else None) == before
    return result


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--kills", type=int, default=100, help="how many kill -9 (default 100)")
    parser.add_argument("--folder", help="work folder (default: a temporary one)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-delay", type=float, default=0.6, help="longest wait before a kill (s)")


def run(args) -> int:
    if args.kills < 1:
        print("error: --kills must be at least 1", file=sys.stderr)
        return 2
    base = Path(args.folder) if args.folder else Path(tempfile.mkdtemp(prefix="ris-autosave-soak-"))
    folder = make_folder(base / "photos")
    t0 = time.time()
    fig = kill_soak(folder, args.kills, args.seed, args.max_delay)
    disk = full_disk(folder)
    print("autosave soak (kill -9 during autosave):")
    for line in fig.lines():
        print("  " + line)
    print(f"  full disk: autosave reported {len(disk['errors'])} failure(s), edits kept in memory: "
          f"{disk['dirty']}, file on disk still the last good one: "
          f"{disk['file_unchanged'] and _valid(folder)}")
    print(f"  time: {time.time() - t0:.1f} s")
    for f in fig.failures[:20]:
        print("  FAILURE: " + f)
    return 1 if fig.failures or not disk["errors"] or not disk["file_unchanged"] or not _valid(folder) else 0


def _valid(folder: Path) -> bool:
    from app.project import Project, ProjectError

    try:
        Project.open([folder], autosave=False)
    except ProjectError:
        return False
    return True


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m app.project.soak", description=HELP)
    add_arguments(parser)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(Path(args.child), args.seed)
        return 0
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
