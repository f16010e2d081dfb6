"""Narrow exceptions of the kernel; the API maps them to precise 4xx answers in one handler."""


class ClawTraceError(Exception):
    """Base of every error the project raises on purpose."""


class ConfigError(ClawTraceError):
    """Settings that cannot work together (for example an Iceberg SQLite catalog on a remote lake)."""


class InvalidIdError(ClawTraceError, ValueError):
    """An id that is not safe to use as a storage path segment or does not have the expected form."""


class LakeLayoutError(ClawTraceError):
    """A raw file path that does not follow `raw/v1/tenant=/agent=/dt=/hr=/<file>`."""


class TableNotFoundError(ClawTraceError):
    """A lake table that has not been created yet."""
