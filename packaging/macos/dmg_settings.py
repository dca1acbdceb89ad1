# dmgbuild settings of the RIS Studio disk image (macOS).
# Build: python packaging/build.py  (PyInstaller makes "dist/RIS Studio.app"), then
#        dmgbuild -s packaging/macos/dmg_settings.py -D app="dist/RIS Studio.app" "RIS Studio" dist/ris-studio-macos.dmg
# The app is not signed or notarised (that needs an Apple Developer ID): users right-click > Open
# the first time. Not runnable on the Linux build machine; CI runs it on macos-latest.
import os.path

application = defines.get("app", "dist/RIS Studio.app")  # noqa: F821  (dmgbuild injects `defines`)
appname = os.path.basename(application)

format = "UDZO"  # zlib-compressed, read-only
filesystem = "HFS+"
size = None  # computed from the contents
files = [application]
symlinks = {"Applications": "/Applications"}
icon_locations = {appname: (140, 120), "Applications": (500, 120)}
background = "builtin-arrow"
window_rect = ((100, 100), (640, 280))
default_view = "icon-view"
icon_size = 96
show_status_bar = False
show_toolbar = False
