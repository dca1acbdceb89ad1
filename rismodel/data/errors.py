"""The one error type of the dataset readers (refer pickles, gRefCOCO / COCO JSON, masks).

Every way an untrusted dataset file can be wrong ends in :class:`DatasetError` (a ``ValueError``)
whose message names the file and the problem; callers catch this one type.
"""

from __future__ import annotations


class DatasetError(ValueError):
    """A dataset file is missing or malformed; the message names the file and the field."""
