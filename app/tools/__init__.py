"""Drawing tools that create or edit annotations by hand (Qt-free rasterisation)."""
