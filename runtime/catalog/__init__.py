"""Node types: the declarative ``NodeSpec``/``Catalog``, the built-in families (``builtin``), the
formula language (``formula_parser``), weight initialisers, and plugins (``plugins``) with the guard
that keeps a hostile plugin from hanging or killing the app (``plugin_guard``).

This package's names are what a plugin needs, in one import::

    from layerloom.catalog import FloatParam, NodeSpec, ShapeError

May import: ``layerloom.core``. PyTorch only lazily, when a node is built.
"""

from __future__ import annotations

from layerloom.catalog.spec import Catalog, InferContext, NodeSpec, Port, default_catalog
from layerloom.core.errors import ShapeError
from layerloom.core.params import (BoolParam, ChoiceParam, FloatParam, IntParam, IntsParam, Param, ShapeParam,
                                   StrParam)
from layerloom.core.shapes import TensorSpec

__all__ = ["InferContext", "Catalog", "NodeSpec", "Port", "default_catalog", "ShapeError", "BoolParam",
           "ChoiceParam", "FloatParam", "IntParam", "IntsParam", "Param", "ShapeParam", "StrParam", "TensorSpec"]
