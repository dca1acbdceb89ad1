"""Side-panel widgets of the annotator's flow (labels, expressions, review)."""
