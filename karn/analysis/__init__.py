"""analysis"""

# The session hooks that keep the daily reason totals in step with customer changes.
from karn.analysis import totals  # noqa: F401
