"""The one error family a user can cause. The CLI turns it into one line and exit code 2."""


class EdgewiseError(Exception):
    """An error the user can fix. The message says what went wrong and what to do."""

    exit_code = 2

    def __init__(self, message: str, hint: str | None = None):
        self.message = message
        self.hint = hint
        super().__init__(f"{message} ({hint})" if hint else message)


class ConfigError(EdgewiseError):
    """The study file or a command-line value is invalid."""


class PlanError(EdgewiseError):
    """A cell cannot be planned: unknown subject, chain or placement, or an impossible chain."""


class DataError(EdgewiseError):
    """A dataset or model file is missing, corrupt or does not match the model."""


class ArtifactError(EdgewiseError):
    """An artifact could not be built or failed its integrity check."""


class TestbedError(EdgewiseError):
    """A testbed cannot be created, verified or reached."""

    __test__ = False  # not a pytest test class despite the name


class ServerError(EdgewiseError):
    """A tier server refused or failed a request."""


def build_failure(exc: BaseException) -> str:
    """What a failed build records for its cell: the message and, for a user's error, the fix."""
    if isinstance(exc, EdgewiseError):
        return exc.message + (f" (fix: {exc.hint})" if exc.hint else "")
    return f"{type(exc).__name__}: {exc}"
