"""The one exception type for mistakes a user can fix (a bad file, path or config value).

Workflow scripts catch it and print only its message, so a user sees one clear line that
names the file or key and the fix, not a traceback.
"""


class SepflowError(Exception):
    """A user-fixable error; the message names the file or key and says how to fix it."""
