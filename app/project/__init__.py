"""The Qt-free project layer of RIS Studio (see docs/app.md and /tmp/coord/project_api.md).

``from app.project import Project, ProjectError, ...`` keeps working from when this was one
module: the names below are the public API.
"""

from rismodel.fileio import WriteError, atomic_write_bytes

from .errors import (
                     ProjectChangedError,
                     ProjectError,
                     ProjectFileError,
                     ProjectLockedError,
                     ProjectReadOnlyError,
)
from .lock import LockInfo, ProjectLock, read_lock
from .model import (
                     ACCEPTED,
                     FORMAT,
                     IMAGE_SUFFIXES,
                     PALETTE,
                     PROJECT_FILE,
                     TO_REVIEW,
                     Annotation,
                     BatchResult,
                     ImageEntry,
                     Project,
                     check_image_readable,
                     list_images,
                     read_labels_file,
)

__all__ = ["ACCEPTED", "FORMAT", "IMAGE_SUFFIXES", "PALETTE", "PROJECT_FILE", "TO_REVIEW", "Annotation",
           "BatchResult", "ImageEntry", "LockInfo", "Project", "ProjectChangedError", "ProjectError",
           "ProjectFileError", "ProjectLock", "ProjectLockedError", "ProjectReadOnlyError", "WriteError",
           "atomic_write_bytes", "check_image_readable", "list_images", "read_labels_file", "read_lock"]
