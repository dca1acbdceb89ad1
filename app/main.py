"""``ris-studio [IMAGES_OR_FOLDER ...]``: start the desktop app on the default model."""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ris-studio", description="Select image regions by describing "
                                     "them: type a referring expression, keep and refine the mask, export COCO.")
    parser.add_argument("paths", nargs="*", metavar="IMAGES_OR_FOLDER", help="images or a folder to open")
    parser.add_argument("--model", help="model name (lgformer-compact, lqmformer-compact) or checkpoint file")
    parser.add_argument("--device", choices=["auto", "cuda", "cpu"], help="inference device")
    args = parser.parse_args(argv)

    from PySide6.QtWidgets import QApplication

    from .mainwindow import MainWindow

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("RIS Studio")
    app.setOrganizationName("RIS Studio")
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
    window.show()
    if args.paths:
        window.open_paths(args.paths)
    return app.exec()


if __name__ == "__main__":
    sys.exit(main())
