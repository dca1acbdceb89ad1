"""Menus, actions and keyboard shortcuts, declared as one table (also shown in the help dialog).

Single-letter shortcuts (tools, D / A, Y / N) are window shortcuts: a focused text box claims the
letters it types (Qt's ShortcutOverride), so they act everywhere except while typing in the
expression box; flow/keys.py keeps sliders and spin boxes from swallowing them.
"""

from __future__ import annotations

from PySide6.QtGui import QAction, QActionGroup, QKeySequence

# (menu, action name, text, shortcut(s), slot on the window, dotted for a part of it: "flow.x");
# None = separator. A tuple of shortcuts: the first is the one the menu shows.
TABLE = [
    ("&File", "open_images", "&Open images\u2026", "Ctrl+O", "choose_images"),
    ("&File", "open_folder", "Open &folder\u2026", "Ctrl+Shift+O", "choose_folder"),
    ("&File", "recent", "Open &recent", None, None),  # submenu, filled by flow.opening
    ("&File", "save_as", "&Save project as\u2026", None, "safety.save_as"),  # e.g. after autosave failed
    ("&File", None, None, None, None),
    ("&File", "import_coco", "&Import COCO JSON\u2026", "Ctrl+Shift+I", "flow.interop.import_coco"),
    ("&File", None, None, None, None),
    ("&File", "export_coco", "Export &COCO JSON\u2026", "Ctrl+E", "export_coco"),
    ("&File", "export_polygons", "COCO with polygons instead of RLE", None, None),
    ("&File", "export_labelme", "Export &labelme JSON (one per image)\u2026", None, "flow.interop.export_labelme"),
    ("&File", "export_yolo", "Export &YOLO segmentation labels\u2026", None, "flow.interop.export_yolo"),
    ("&File", "export_masks", "Export mask &PNGs\u2026", "Ctrl+Shift+E", "export_masks"),
    ("&File", "export_cutout", "Save cut-out PNG (alpha)\u2026", "Ctrl+Shift+S", "save_cutout"),
    ("&File", "cutout_crop", "Crop cut-outs to the object", None, None),
    ("&File", None, None, None, None),
    ("&File", "quit", "&Quit", "Ctrl+Q", "close"),
    ("&Edit", "undo", "&Undo", "Ctrl+Z", "undo"),
    ("&Edit", "redo", "&Redo", ("Ctrl+Shift+Z", "Ctrl+Y"), "redo"),
    ("&Edit", None, None, None, None),
    ("&Edit", "keep", "&Keep mask as annotation", "Ctrl+Return", "keep_mask"),
    ("&Edit", "cancel", "Cancel (leave the expression box, clear the live mask or the shape)", "Esc",
     "flow.keys.cancel"),
    ("&Edit", "delete", "&Delete selected annotation", "Delete", "delete_selected"),
    ("&Edit", "snap_selected", "S&nap selected annotation to edges", "Ctrl+G", "flow.shapes.snap_selected"),
    ("&Edit", "add_expression", "Add an e&xpression to the selected annotation\u2026", "Ctrl+Shift+X",
     "flow.labels.add_expression"),
    ("&Edit", "copy_mask", "Copy &mask to clipboard", "Ctrl+C", "copy_mask"),
    ("&Edit", "copy_cutout", "Copy cu&t-out to clipboard", "Ctrl+Shift+C", "copy_cutout"),
    ("&Edit", None, None, None, None),
    ("&Edit", "tool_pan", "&Pan tool", "V", "tool_pan"),
    ("&Edit", "tool_brush", "&Brush tool", "B", "tool_brush"),
    ("&Edit", "tool_erase", "&Eraser tool", "E", "tool_erase"),
    ("&Edit", "tool_polygon", "P&olygon tool (new annotation)", "P", "flow.shapes.tool_polygon"),
    ("&Edit", "tool_box", "Bo&x tool (new annotation)", "R", "flow.shapes.tool_box"),
    ("&Edit", "tool_edit", "Edit &vertices of the selected annotation", "J", "flow.shapes.tool_edit"),
    ("&Edit", "brush_bigger", "Bigger brush", "]", "brush_bigger"),
    ("&Edit", "brush_smaller", "Smaller brush", "[", "brush_smaller"),
    ("&Review", "accept", "&Accept the selected annotation (and go to the next to review)", "Y",
     "flow.review.accept"),
    ("&Review", "reject", "&Reject (delete) the selected annotation", "N", "flow.review.reject"),
    ("&Review", "accept_image", "Accept every annotation of this image", "Shift+Y", "flow.review.accept_image"),
    ("&Review", "next_review", "Next annotation &to review", "Ctrl+D", "flow.review.next_to_review"),
    ("&Review", "reject_below", "Reject below a score or size\u2026", None, "flow.review.reject_below"),
    ("&View", "next", "&Next image", ("D", "PgDown"), "next_image"),
    ("&View", "previous", "&Previous image", ("A", "PgUp"), "previous_image"),
    ("&View", "next_unannotated", "Next image &without annotations", "Shift+D", "flow.keys.next_unannotated"),
    ("&View", "fit", "&Fit to window", "F", "fit"),
    ("&View", "zoom_in", "Zoom &in", ("Ctrl++", "Ctrl+="), "zoom_in"),
    ("&View", "zoom_out", "Zoom &out", "Ctrl+-", "zoom_out"),
    ("&View", "focus_text", "Focus the &expression box", "Ctrl+L", "focus_expression"),
    ("&View", "show_rejected", "Show &rejected mask (the model said no target)", None, None),  # the prompt's box
    ("&View", "docks", "&Panels", None, None),  # submenu: show/hide each dock (flow.opening)
    ("&Model", "model_lgformer", "LGFormer (default compact)", None, "use_lgformer"),
    ("&Model", "model_lqmformer", "LQMFormer (default compact)", None, "use_lqmformer"),
    ("&Model", "model_photo", "Real photos: photo-coco (80 COCO classes, training-free)", None, "use_photo_coco"),
    ("&Model", "model_file", "Load &checkpoint\u2026", "Ctrl+M", "choose_checkpoint"),
    ("&Model", None, None, None, None),
    ("&Model", "device_auto", "Device: auto", None, None),
    ("&Model", "device_cuda", "Device: CUDA", None, None),
    ("&Model", "device_cpu", "Device: CPU", None, None),
    ("&Model", None, None, None, None),
    ("&Model", "model_info", "Model &information\u2026", "Ctrl+I", "show_model_info"),
    ("&Tools", "batch", "&Batch: run expressions on every image\u2026", "Ctrl+B", "run_batch"),
    ("&Tools", "propose", "&Propose objects with photo-coco (every image, for review)", None, "propose_objects"),
    ("&Tools", "finetune", "&Fine-tune on this project's annotations\u2026", None, "fine_tune"),
    ("&Help", "shortcuts", "&Keyboard shortcuts", "F1", "show_shortcuts"),
]

SUBMENUS = {"recent", "docks"}  # names in TABLE that are submenus, not actions


def _slot(window, dotted: str):
    target = window
    for part in dotted.split("."):
        target = getattr(target, part)
    return target


def build(window) -> dict[str, QAction]:
    """Create the menus on ``window`` and connect each action to the window slot named in TABLE."""
    actions: dict[str, QAction] = {}
    menus = {}
    for menu_name, name, text, shortcut, slot in TABLE:
        menu = menus.get(menu_name) or menus.setdefault(menu_name, window.menuBar().addMenu(menu_name))
        if name is None:
            menu.addSeparator()
            continue
        if name in SUBMENUS:
            sub = menu.addMenu(text)
            sub.setObjectName(name)
            actions[name] = sub.menuAction()
            continue
        act = QAction(text, window)
        act.setObjectName(name)
        if shortcut:
            keys = (shortcut,) if isinstance(shortcut, str) else shortcut
            act.setShortcuts([QKeySequence(k) for k in keys])
        if slot:
            act.triggered.connect(lambda _=False, s=slot: _slot(window, s)())
        menu.addAction(act)
        window.addAction(act)  # shortcuts work whichever widget has focus
        actions[name] = act
    actions["export_polygons"].setCheckable(True)
    actions["cutout_crop"].setCheckable(True)
    devices = QActionGroup(window)
    for d in ("auto", "cuda", "cpu"):
        a = actions[f"device_{d}"]
        a.setCheckable(True)
        devices.addAction(a)
        a.triggered.connect(lambda _=False, dev=d: window.set_device(dev))
    return actions


def shortcut_rows() -> list[tuple[str, str]]:
    rows = [(s if isinstance(s, str) else " / ".join(s), t.replace("&", "").rstrip("\u2026"))
            for _m, n, t, s, _ in TABLE if n and s]
    rows.append(("Enter", "Keep the live mask (in the expression box); close the polygon (on the canvas)"))
    rows.append(("Backspace", "Remove the polygon's last vertex"))
    rows.append(("Mouse wheel", "Zoom around the pointer"))
    return rows
