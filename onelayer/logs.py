"""How workflow scripts report: progress to the job's log file and to stderr, and a user error
as its message alone (no traceback), with a non-zero exit so that Snakemake fails the job."""

from __future__ import annotations

import logging
import sys
from typing import Callable

from onelayer.errors import PipelineError

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def run_logged(log_path: str | None, main: Callable[[], object]) -> None:
    """Run ``main`` with logging to stderr and ``log_path`` (where given); turn a PipelineError
    into a clean exit 1."""
    handlers = [logging.StreamHandler(sys.stderr)]
    if log_path is not None:
        handlers.append(logging.FileHandler(log_path, mode="w"))
    logging.basicConfig(level=logging.INFO, format=FORMAT, handlers=handlers, force=True)
    logging.captureWarnings(True)
    log = logging.getLogger("onelayer")
    try:
        main()
    except PipelineError as err:
        log.error("%s", err)
        logging.shutdown()
        sys.exit(1)
    except Exception:
        log.exception("unexpected error")
        logging.shutdown()
        raise
