"""Menus, actions and keyboard shortcuts, declared as one table (also shown in the help dialog)."""

from __future__ import annotations

from PySide6.QtGui import QAction, QActionGroup, QKeySequence

# (menu, action name, text, shortcut, window slot); None = separator
TABLE = [
    ("&File", "open_images", "&Open images\u2026", "Ctrl+O", "choose_images"),
    ("&File", "open_folder", "Open &folder\u2026", "Ctrl+Shift+O", "choose_folder"),
    ("&File", None, None, None, None),
    ("&File", "export_coco", "Export &COCO JSON\u2026", "Ctrl+E", "export_coco"),
    ("&File", "export_polygons", "COCO with polygons instead of RLE", None, None),
    ("&File", "export_masks", "Export mask &PNGs\u2026", "Ctrl+Shift+E", "export_masks"),
    ("&File", "export_cutout", "Save cut-out PNG (alpha)\u2026", "Ctrl+Shift+S", "save_cutout"),
    ("&File", None, None, None, None),
    ("&File", "quit", "&Quit", "Ctrl+Q", "close"),
    ("&Edit", "undo", "&Undo", "Ctrl+Z", "undo"),
    ("&Edit", "redo", "&Redo", "Ctrl+Shift+Z", "redo"),
    ("&Edit", None, None, None, None),
    ("&Edit", "keep", "&Keep mask as annotation", "Ctrl+Return", "keep_mask"),
    ("&Edit", "delete", "&Delete selected annotation", "Delete", "delete_selected"),
    ("&Edit", "copy_mask", "Copy &mask to clipboard", "Ctrl+C", "copy_mask"),
    ("&Edit", "copy_cutout", "Copy cu&t-out to clipboard", "Ctrl+Shift+C", "copy_cutout"),
    ("&Edit", None, None, None, None),
    ("&Edit", "tool_pan", "&Pan tool", "V", "tool_pan"),
    ("&Edit", "tool_brush", "&Brush tool", "B", "tool_brush"),
    ("&Edit", "tool_erase", "&Eraser tool", "E", "tool_erase"),
    ("&Edit", "brush_bigger", "Bigger brush", "]", "brush_bigger"),
    ("&Edit", "brush_smaller", "Smaller brush", "[", "brush_smaller"),
    ("&View", "next", "&Next image", "PgDown", "next_image"),
    ("&View", "previous", "&Previous image", "PgUp", "previous_image"),
    ("&View", "fit", "&Fit to window", "F", "fit"),
    ("&View", "zoom_in", "Zoom &in", "Ctrl++", "zoom_in"),
    ("&View", "zoom_out", "Zoom &out", "Ctrl+-", "zoom_out"),
    ("&View", "focus_text", "Focus the &expression box", "Ctrl+L", "focus_expression"),
    ("&Model", "model_lgformer", "LGFormer (default compact)", None, "use_lgformer"),
    ("&Model", "model_lqmformer", "LQMFormer (default compact)", None, "use_lqmformer"),
    ("&Model", "model_file", "Load &checkpoint\u2026", "Ctrl+M", "choose_checkpoint"),
    ("&Model", None, None, None, None),
    ("&Model", "device_auto", "Device: auto", None, None),
    ("&Model", "device_cuda", "Device: CUDA", None, None),
    ("&Model", "device_cpu", "Device: CPU", None, None),
    ("&Model", None, None, None, None),
    ("&Model", "model_info", "Model &information\u2026", "Ctrl+I", "show_model_info"),
    ("&Tools", "batch", "&Batch: run expressions on every image\u2026", "Ctrl+B", "run_batch"),
    ("&Tools", "finetune", "&Fine-tune on this project's annotations\u2026", None, "fine_tune"),
    ("&Help", "shortcuts", "&Keyboard shortcuts", "F1", "show_shortcuts"),
]


def build(window) -> dict[str, QAction]:
    """Create the menus on ``window`` and connect each action to the window slot named in TABLE."""
    actions: dict[str, QAction] = {}
    menus = {}
    for menu_name, name, text, shortcut, slot in TABLE:
        menu = menus.get(menu_name) or menus.setdefault(menu_name, window.menuBar().addMenu(menu_name))
        if name is None:
            menu.addSeparator()
            continue
        act = QAction(text, window)
        act.setObjectName(name)
        if shortcut:
            act.setShortcut(QKeySequence(shortcut))
        if slot:
            act.triggered.connect(lambda _=False, s=slot: getattr(window, s)())
        menu.addAction(act)
        window.addAction(act)  # shortcuts work whichever widget has focus
        actions[name] = act
    actions["export_polygons"].setCheckable(True)
    devices = QActionGroup(window)
    for d in ("auto", "cuda", "cpu"):
        a = actions[f"device_{d}"]
        a.setCheckable(True)
        devices.addAction(a)
        a.triggered.connect(lambda _=False, dev=d: window.set_device(dev))
    return actions


def shortcut_rows() -> list[tuple[str, str]]:
    rows = [(s, t.replace("&", "").rstrip("\u2026")) for _m, n, t, s, _ in TABLE if n and s]
    rows.append(("Enter", "Keep the live mask (in the expression box)"))
    rows.append(("Mouse wheel", "Zoom around the pointer"))
    return rows
