"""docclean: clean, annotated Parquet corpora from messy drops of Chinese documents."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("docclean")
except PackageNotFoundError:  # a source tree on sys.path, not installed
    __version__ = "unknown"

# Bumped whenever a change to the cleaning core can change a record: the curate flow re-cleans
# every document whose row carries another pipeline version.
PIPELINE_VERSION = "8"

# A speech manuscript is tens of kilobytes; 50 MiB is a thousand of them. Larger files are
# rejected before they are read, so one stray dump cannot exhaust a worker's memory. Here, not
# in the pipeline, so that the CLI can show it without loading the cleaning core.
DEFAULT_MAX_FILE_BYTES = 50 * 1024 * 1024
# What replaces a redaction placeholder in `text` (CleanConfig.placeholder_token, `--mask-token`).
# Here so that the CLI can show it without loading the cleaning core.
DEFAULT_PLACEHOLDER_TOKEN = "[MASK]"
