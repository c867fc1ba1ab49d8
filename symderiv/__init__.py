"""symderiv: the mathematics of deep learning, derived with SymPy and checked with NumPy.

Example::

    >>> import symderiv
    >>> symderiv.topics()
    ['backprop', 'convexity', 'initialization', 'normalization']
    >>> d = symderiv.derive("backprop", widths=(3, 4, 1), activation="relu", loss="mae")
    >>> all(r.passed for r in d.verify())
    True

Importing symderiv is cheap: SymPy work happens when a topic is first derived.
"""

from symderiv import topics
from symderiv.errors import InputError, SymderivError, TexError, UnknownResultError
from symderiv.topics import derive

__version__ = "0.1.0"

__all__ = [
    "InputError",
    "SymderivError",
    "TexError",
    "UnknownResultError",
    "__version__",
    "derive",
    "topics",
]
