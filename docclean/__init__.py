"""docclean: clean, annotated Parquet corpora from messy drops of Chinese documents."""

# Bumped whenever a change to the cleaning core can change a record: the curate flow re-cleans
# every document whose row carries another pipeline version.
PIPELINE_VERSION = "1"
