"""Errors a user can act on. Their message names the file, column or row and says what to do."""


class CrossBoardError(Exception):
    """Any problem caused by the user's input or settings; shown as-is, never as a traceback."""


class DataError(CrossBoardError):
    """The uploaded table cannot be used as it is."""


class SettingsError(CrossBoardError):
    """A study, model or CLI setting is invalid."""


class NotFoundError(CrossBoardError):
    """A dataset or study named by the user does not exist."""


def clip(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` characters (an ellipsis marks the cut), for quoting a value in a message."""
    return text if len(text) <= limit else text[: limit - 1] + "…"
