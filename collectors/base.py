"""What every collector shares; see :mod:`collectors` for the registry of sources."""
