"""``ris-studio [IMAGES_OR_FOLDER ...]``: start the desktop app on the default model."""

from __future__ import annotations

import argparse
import os
import sys


def main(argv: list[str] | None = None) -> int:
    import multiprocessing

    from .frozen import RUN_RISMODEL, ensure_std_streams

    multiprocessing.freeze_support()  # a frozen build's DataLoader/spawn children re-enter here
    ensure_std_streams()  # windowed builds have no console: stdout/stderr are None
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == [RUN_RISMODEL]:  # the frozen app runs its bundled trainer (fine-tuning)
        from rismodel.cli import main as rismodel_main

        return rismodel_main(argv[1:])
    # One torch thread for interactive inference unless the user says otherwise: on a busy 2-core
    # machine 2 threads took 1.2-7 s per expression against 0.2-0.6 s (docs/adr/0004-*.md).
    # Set before torch loads (the worker imports it); training sets its own (train.threads).
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    parser = argparse.ArgumentParser(prog="ris-studio", description="Select image regions by describing "
                                     "them: type a referring expression, keep and refine the mask, export COCO.")
    parser.add_argument("paths", nargs="*", metavar="IMAGES_OR_FOLDER", help="images or a folder to open")
    parser.add_argument("--model", help="model name (lgformer-compact, lqmformer-compact) or checkpoint file")
    parser.add_argument("--device", choices=["auto", "cuda", "cpu"], help="inference device")
    parser.add_argument("--labels", metavar="FILE",
                        help="predefined labels, one per line (as labelme's --labels): offered first, "
                             "shown in the label panel")
    parser.add_argument("--only-labels", action="store_true",
                        help="with --labels: accept no other label")
    parser.add_argument("--self-test", action="store_true",
                        help="load each bundled model, segment a demo image, check the mask; exit 0 if all is well")
    args = parser.parse_args(argv)
    if args.self_test:
        from .selftest import run_self_test

        return run_self_test()
    labels = []
    if args.labels:
        from .project import ProjectError, read_labels_file

        try:
            labels = read_labels_file(args.labels)
        except ProjectError as e:
            parser.error(str(e))  # one line and exit status 2, before any window
    elif args.only_labels:
        parser.error("--only-labels needs --labels FILE")

    from PySide6.QtWidgets import QApplication

    from .mainwindow import MainWindow

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("RIS Studio")
    app.setOrganizationName("RIS Studio")
    from .crashlog import install

    install()  # after the names: they choose the log folder
    from PySide6.QtGui import QIcon

    from rismodel.resources import resources_dir

    app.setWindowIcon(QIcon(str(resources_dir() / "icons" / "ris-studio.svg")))
    if args.model or args.device:
        from .dialogs import settings

        s = settings()
        if args.model:
            s.setValue("model", args.model)
        if args.device:
            s.setValue("device", args.device)
    window = MainWindow()
    if labels:
        window.flow.labels.set_predefined(labels, restrict=args.only_labels)
    window.show()
    if args.paths:
        window.open_paths(args.paths)
    else:
        window.flow.opening.reopen_last()  # the folder of the last session, if it still exists
    rc = app.exec()
    if window.worker_thread.thread.isRunning():
        # Still stuck in one step after the window's patient stop: the work is saved (autosave and
        # the close checks ran), and destroying a running QThread would abort with a core dump.
        print("ris-studio: the inference thread did not stop; exiting without waiting", file=sys.stderr)
        os._exit(rc)
    return rc


if __name__ == "__main__":
    sys.exit(main())
