"""The errors dopt raises on purpose: each names the field, file or option at fault."""


class DoptError(Exception):
    """Base class of every error dopt raises deliberately."""


class ProblemError(DoptError, ValueError):
    """The problem's data is invalid (wrong shape, NaN, empty domain, ...)."""


class FormatError(DoptError, ValueError):
    """A problem or result file cannot be read (missing, malformed, unsafe)."""


class MethodError(DoptError, ValueError):
    """Unknown method or option, bad option value, or a device the method cannot use."""
