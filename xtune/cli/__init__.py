"""Command-line verbs; each ``tools/<verb>.py`` script is a thin wrapper around one of these modules."""
