"""A stand-in for polars on the device machine, whose wheel (54 MB) does not fit the transfer limit.

mteb imports polars at module level for its leaderboard and benchmark tables; the evaluation path
that the benchmarks time never calls it. Any real use raises, so a benchmark can't silently depend on it.
"""

__version__ = "0.0.0-stub"
USED: set = set()


class _Stub:
    def __init__(self, *args, **kwargs):
        raise RuntimeError("polars stub: polars was really used")

    def __class_getitem__(cls, item):
        return cls


def __getattr__(name):
    if name.startswith("__"):
        raise AttributeError(name)
    USED.add(name)
    return _Stub
