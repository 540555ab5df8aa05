"""The Dask worker plugin that gives every worker of a cluster the client's Prefect API.

Imported only with the Dask runner (it needs `distributed`); a worker unpickles it by reference,
so the workers need docclean installed, as they do to run its tasks anyway.
"""

from __future__ import annotations

import os
import sys

from distributed import Worker, WorkerPlugin


class PrefectApiPlugin(WorkerPlugin):
    """Sets the client's Prefect API variables in a worker's process when the worker starts.

    Registered with the scheduler, it reaches the workers there now and those that join later.
    """

    name = "docclean-prefect-api"

    def __init__(self, environment: dict[str, str]) -> None:
        self.environment = environment

    def setup(self, worker: Worker) -> None:
        os.environ.update(self.environment)
        if "prefect.context" in sys.modules:
            # Prefect read its settings when the worker first imported it (an earlier run).
            from prefect.context import refresh_global_settings_context

            refresh_global_settings_context()
