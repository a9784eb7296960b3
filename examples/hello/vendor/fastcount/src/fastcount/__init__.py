"""Count non-overlapping occurrences of a byte string, in C."""

from fastcount._speedups import count

__all__ = ["count"]
__version__ = "1.0.0"
