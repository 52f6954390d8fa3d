"""rnnmem: a research harness that measures the short-term memory of recurrent networks."""

__version__ = "0.1.0"
