"""Where a curated dataset lives: a local folder or a URL, and, in a folder, the run lock and the state folder.

One definition for the two layers that need it: the CLI checks these paths can be written before
anything starts, and `flows.local` writes them. The whole layout is described in flows/local.py.
"""

from __future__ import annotations

from pathlib import Path

# The lock a run holds on the curated folder (flock), inside the folder itself.
LOCK_FILE = ".lock"
# The state folder beside curated/ (snapshots, unfinished batches); `.docclean/` is in .gitignore.
STATE_FOLDER = ".docclean"


def state_folder(root: Path) -> Path:
    """Where docclean keeps the snapshots and unfinished batches of the curated folder `root`.

    A `root` that is a symbolic link to the folder has the folder's state: two names of one
    dataset are one dataset (and the folder's relative links into its state lead there). A
    state kept beside the link itself, by an earlier docclean, stays where it is.
    """
    beside = root.parent / STATE_FOLDER / "datasets" / root.name
    if root.is_symlink() and not beside.exists():
        folder = root.resolve()
        return folder.parent / STATE_FOLDER / "datasets" / folder.name
    return beside


def is_url(location: str) -> bool:
    """Whether `--raw` or `--curated` names storage by URL (`s3://…`) rather than a local folder."""
    return "://" in location
