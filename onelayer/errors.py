"""Errors a user can act on: the workflow prints their message without a traceback."""


class PipelineError(Exception):
    """Base class: bad input or a failed check, explained in the message."""


class ChecksumError(PipelineError, ValueError):
    """A file's MD5 is not the one expected."""


class ArchiveError(PipelineError, ValueError):
    """The archive is not a well-formed CIFAR-10 python archive."""


class GradientCheckError(PipelineError, AssertionError):
    """An analytic gradient disagrees with a reference beyond its tolerance."""


class SettingsError(PipelineError, ValueError):
    """A training setting (or a combination of them) is out of its bounds."""


class RunNameError(PipelineError, ValueError):
    """A run directory name does not hold a valid (lambda, eta) pair."""


class DownloadError(PipelineError, OSError):
    """The archive could not be fetched."""
