"""Node types: the declarative ``NodeSpec``/``Catalog``, the built-in families (``builtin``), the
formula language (``formula_parser``), weight initialisers, and plugins (``plugins``) with the guard
that keeps a hostile plugin from hanging or killing the app (``plugin_guard``).

A plugin writes ``from layerloom.catalog import NodeSpec, Port`` (or ``from layerloom import ...``).

May import: ``layerloom.core``. PyTorch only lazily, when a node is built.
"""

from __future__ import annotations

from layerloom.catalog.spec import Catalog, NodeSpec, Port, default_catalog

__all__ = ["Catalog", "NodeSpec", "Port", "default_catalog"]
