"""The one exception type for mistakes a user can make.

Its message is written to be shown as is: the CLI prints it and exits 2, the UI raises it as
``gr.Error``. It subclasses ValueError so plain-Python callers can catch it the usual way.
"""


class UserError(ValueError):
    """Bad input from a user (file, text, weight, spec, index name): message fit to show."""
