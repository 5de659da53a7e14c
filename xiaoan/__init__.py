"""小安 (Xiao'an): the Shanghai market-regulation assistant's own services."""

__version__ = "0.1.0"
