"""Prefect orchestration of the docclean core: scan, batch, clean, write, report, serve."""
