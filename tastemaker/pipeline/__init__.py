"""Placements: the serving pipeline
``candidates → merge → rank → rules → diversify → explain → log``.

Import from the submodules (``tastemaker.pipeline.pipeline``, ``.config`` …): the settings
import ``tastemaker.pipeline.config``, so this package's ``__init__`` imports nothing.
"""
