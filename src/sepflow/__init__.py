"""sepflow: a reproducible pipeline for speech enhancement and music source separation."""

__version__ = "0.1.0"
