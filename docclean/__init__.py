"""docclean: clean, annotated Parquet corpora from messy drops of Chinese documents."""

# Bumped whenever a change to the cleaning core can change a record: the curate flow re-cleans
# every document whose row carries another pipeline version.
PIPELINE_VERSION = "2"

# A speech manuscript is tens of kilobytes; 50 MiB is a thousand of them. Larger files are
# rejected before they are read, so one stray dump cannot exhaust a worker's memory. Here, not
# in the pipeline, so that the CLI can show it without loading the cleaning core.
DEFAULT_MAX_FILE_BYTES = 50 * 1024 * 1024
