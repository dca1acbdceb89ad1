"""One mutation for the JSON fuzzers of the project layer: a node anywhere in a document replaced
by an arbitrary JSON value (hypothesis draws the path and the value)."""

from hypothesis import strategies as st


def replace_random_node(doc, data, values, max_depth: int):
    """``doc`` with one node replaced by a value drawn from ``values`` (the whole document when the
    drawn path is empty); changed in place where possible, returned either way."""
    node, path = doc, []
    for _ in range(data.draw(st.integers(0, max_depth))):
        kids = list(node.items()) if isinstance(node, dict) else list(enumerate(node)) if isinstance(node, list) else []
        if not kids:
            break
        k, v = kids[data.draw(st.integers(0, len(kids) - 1))]
        path.append((node, k))
        node = v
    if not path:
        return data.draw(values)
    parent, k = path[-1]
    parent[k] = data.draw(values)
    return doc
