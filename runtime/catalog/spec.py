"""Declarative node specs and the catalog that registers them under stable type ids.

A ``NodeSpec`` says everything about a node type: its ports, its typed params, how to infer its
output shapes, how many parameters it has and how to build its ``nn.Module`` (or, for simple
merges, which tensor function to call). The editor, the validator, the compiler and the exporters
all read the same spec.

A plugin's functions (``source`` is neither ``"builtin"`` nor ``"block"``) are called through
``layerloom.catalog.plugin_guard``: under a time limit, with stdout sent to stderr, and with what ``infer`` and
``count_params`` return checked, so a plugin cannot hang, end or mislead the checks that come after.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator, Mapping, Sequence

from layerloom.core.errors import LayerLoomError, ShapeError
from layerloom.core.params import Param
from layerloom.catalog.plugin_guard import call_plugin
from layerloom.core.shapes import TensorSpec, checked_spec, whole_number

if TYPE_CHECKING:  # pragma: no cover
    import torch.nn as nn

# Port kinds: what travels along a wire.
TENSOR = "tensor"   # activations
TARGET = "target"   # labels / regression targets from the dataset
LOSS = "loss"       # a scalar loss value
PORT_KINDS = (TENSOR, TARGET, LOSS)

# Node roles.
INPUT, TARGET_ROLE, OUTPUT, LAYER, LOSS_ROLE = "input", "target", "output", "layer", "loss"

# Where a spec comes from when it is not a plugin's: its functions are LayerLoom's own.
TRUSTED_SOURCES = ("builtin", "block")


@dataclass(frozen=True)
class Port:
    name: str
    kind: str = TENSOR
    optional: bool = False
    doc: str = ""
    accepts: tuple[str, ...] = ()  # kinds an input port accepts; default: its own kind

    def accepted_kinds(self) -> tuple[str, ...]:
        return self.accepts or (self.kind,)


class InferContext:
    """What a spec's ``infer``/``build``/``count_params`` functions see: checked params and the
    specs of the tensors arriving at each connected input port (``None`` for an unconnected optional
    port)."""

    __slots__ = ("params", "inputs", "spec")

    def __init__(self, spec: "NodeSpec", params: Mapping[str, Any], inputs: Mapping[str, TensorSpec | None]):
        self.spec = spec
        self.params = params
        self.inputs = inputs

    def __getitem__(self, name: str) -> Any:
        return self.params[name]

    def input(self, port: str | None = None) -> TensorSpec:
        """The spec arriving at ``port`` (the first input port when not named)."""
        if port is None:
            port = self.spec.input_ports(self.params)[0].name
        spec = self.inputs.get(port)
        if spec is None:
            raise ShapeError(f"input {port!r} is not connected", port)
        return spec

    def connected(self) -> list[tuple[str, TensorSpec]]:
        return [(name, spec) for name, spec in self.inputs.items() if spec is not None]

    def fail(self, message: str, port: str | None = None) -> ShapeError:
        return ShapeError(message, port)

    def expect_float(self, port: str | None = None) -> TensorSpec:
        spec = self.input(port)
        if not spec.is_float:
            raise ShapeError(
                f"expects floating-point values but receives {spec.dtype} "
                "(integer token ids go into an Embedding first)",
                port or self.spec.input_ports(self.params)[0].name,
            )
        return spec


InferFn = Callable[[InferContext], "TensorSpec | dict[str, TensorSpec]"]
BuildFn = Callable[[InferContext], "nn.Module"]
CountFn = Callable[[InferContext], int]
PortsFn = Callable[[Mapping[str, Any]], Sequence[Port]]


@dataclass(frozen=True)
class NodeSpec:
    """A node type.

    - ``inputs`` is a tuple of ports or a function of the params (variadic merges).
    - ``infer(ctx)`` returns the output spec (or a dict port -> spec) and raises ``ShapeError``.
    - ``build(ctx)`` returns a fresh ``nn.Module`` whose ``forward`` takes the inputs in port order.
    - ``emit(graph, args, ctx, name)`` is an alternative to ``build`` for pure functions: it adds
      ``torch.fx`` nodes to ``graph`` and returns the output node (readable code, no submodule).
    - ``count_params(ctx)`` counts learnable parameters without building, so validating a graph needs
      no PyTorch; when absent the module is built on the meta device (importing torch) and counted.
    - ``init_targets``: True when the node takes the ``init`` (weight initialisation) param.
    - ``subtitle(params)``: the words a card shows under the node's name ("ONNX Transpose"); default the type id.
    """

    type_id: str
    category: str
    doc: str
    role: str = LAYER
    inputs: tuple[Port, ...] | PortsFn = (Port("in"),)
    outputs: tuple[Port, ...] = (Port("out"),)
    params: tuple[Param, ...] = ()
    infer: InferFn | None = None
    build: BuildFn | None = None
    emit: Callable[..., Any] | None = None
    count_params: CountFn | None = None
    aliases: tuple[str, ...] = ()
    torch_name: str = ""  # the PyTorch class it maps to, for docs ("torch.nn.Linear")
    source: str = "builtin"  # "builtin", or the plugin that registered it
    # what a card says under the node's name when the type alone says little (an "ONNX operator" node:
    # "ONNX Transpose"); None: the type id
    subtitle: Callable[[Mapping[str, Any]], str] | None = None

    def card_subtitle(self, params: Mapping[str, Any]) -> str:
        """The words under a card's name: ``subtitle(params)`` where the spec has one, else the type id."""
        if self.subtitle is not None:
            try:
                return str(self.subtitle(params))
            except Exception:  # noqa: BLE001 - a plugin's subtitle never breaks drawing a card
                pass
        return self.type_id

    @property
    def from_plugin(self) -> bool:
        return self.source not in TRUSTED_SOURCES

    def call(self, what: str, fn: Callable, *args):
        """``fn(*args)``, one of this spec's functions (``what``: ``"infer()"``); a plugin's runs
        under ``layerloom.catalog.plugin_guard.call_plugin``."""
        if self.source in TRUSTED_SOURCES:
            return fn(*args)
        return call_plugin(fn, *args, plugin=self.source, what=what, key=self.type_id)

    def input_ports(self, params: Mapping[str, Any]) -> tuple[Port, ...]:
        if callable(self.inputs):
            return tuple(self.call("inputs()", self.inputs, params))
        return self.inputs

    def param(self, name: str) -> Param:
        for p in self.params:
            if p.name == name:
                return p
        raise KeyError(name)

    def default_params(self) -> dict[str, Any]:
        return {p.name: p.to_json(p.default) for p in self.params}

    def infer_outputs(self, ctx: InferContext) -> dict[str, TensorSpec]:
        """The spec of each output port; a plugin's answer is checked (``ShapeError`` naming the
        plugin when no tensor can have it)."""
        if self.infer is None:
            return {}
        if self.source not in TRUSTED_SOURCES:
            return self.call("infer()", self._checked_infer, ctx)
        result = self.infer(ctx)
        if isinstance(result, TensorSpec):
            return {self.outputs[0].name: result}
        return dict(result)

    def _checked_infer(self, ctx: InferContext) -> dict[str, TensorSpec]:
        result = self.infer(ctx)
        ports = {port.name: port for port in self.outputs}
        if not isinstance(result, dict):
            result = {self.outputs[0].name: result} if self.outputs else {}
        outputs = {}
        for name, value in result.items():
            port = ports.get(name) if isinstance(name, str) else None
            if port is None:
                raise self._refusal(f"an output {name!r} the node does not have (it has "
                                    f"{', '.join(ports) or 'none'})")
            try:
                outputs[name] = checked_spec(value, scalar=port.kind == LOSS or self.role == LOSS_ROLE)
            except ValueError as exc:
                raise self._refusal(str(exc) if isinstance(value, TensorSpec) else
                                    f"{exc} for output {name!r}") from None
        missing = [name for name in ports if name not in outputs]
        if missing:
            raise self._refusal(f"no shape for output {missing[0]!r}")
        return outputs

    def _refusal(self, text: str) -> ShapeError:
        return ShapeError(f"the infer() of plugin {self.source!r} returned {text}; fix the plugin")

    def build_module(self, ctx: InferContext) -> "nn.Module":
        if self.build is None:
            raise LayerLoomError(f"{self.type_id} has no module to build")
        return self.call("build()", self.build, ctx)

    def emit_node(self, graph, args, ctx: InferContext, name: str):
        """``emit``: add this node's ``torch.fx`` nodes to ``graph``; returns the output node."""
        return self.call("emit()", self.emit, graph, args, ctx, name)

    def param_count(self, ctx: InferContext) -> int:
        if self.count_params is not None:
            if self.source in TRUSTED_SOURCES:
                return self.count_params(ctx)
            return self.call("count_params()", self._checked_count, ctx)
        if self.build is None:
            return 0
        return self.call("build()", self._count_on_meta, ctx)

    def _checked_count(self, ctx: InferContext) -> int:
        count = self.count_params(ctx)
        whole = whole_number(count)
        if whole is None or whole < 0:
            raise ShapeError(f"the count_params() of plugin {self.source!r} returned {count!r}, not a whole number "
                             "of parameters; fix the plugin")
        return whole

    def _count_on_meta(self, ctx: InferContext) -> int:
        import torch

        with torch.device("meta"):
            module = self.build(ctx)
        return sum(p.numel() for p in module.parameters())


@dataclass
class Catalog:
    """Node specs by type id, with aliases so renamed types keep loading."""

    _specs: dict[str, NodeSpec] = field(default_factory=dict)
    _aliases: dict[str, str] = field(default_factory=dict)

    def register(self, spec: NodeSpec, *, replace: bool = False) -> NodeSpec:
        if not replace and (spec.type_id in self._specs or spec.type_id in self._aliases):
            raise LayerLoomError(f"node type {spec.type_id!r} is already registered")
        self._specs[spec.type_id] = spec
        for alias in spec.aliases:
            self._aliases[alias] = spec.type_id
        return spec

    def unregister(self, type_id: str) -> None:
        spec = self._specs.pop(type_id, None)
        if spec is not None:
            for alias in spec.aliases:
                self._aliases.pop(alias, None)

    def resolve(self, type_id: str) -> str | None:
        """The current type id for ``type_id`` (following aliases), or None when unknown."""
        if type_id in self._specs:
            return type_id
        return self._aliases.get(type_id)

    def get(self, type_id: str) -> NodeSpec | None:
        resolved = self.resolve(type_id)
        return self._specs[resolved] if resolved is not None else None

    def __getitem__(self, type_id: str) -> NodeSpec:
        spec = self.get(type_id)
        if spec is None:
            raise KeyError(type_id)
        return spec

    def __contains__(self, type_id: object) -> bool:
        return isinstance(type_id, str) and self.resolve(type_id) is not None

    def __iter__(self) -> Iterator[NodeSpec]:
        return iter(self._specs.values())

    def __len__(self) -> int:
        return len(self._specs)

    def categories(self) -> dict[str, list[NodeSpec]]:
        result: dict[str, list[NodeSpec]] = {}
        for spec in self._specs.values():
            result.setdefault(spec.category, []).append(spec)
        return result

    def copy(self) -> "Catalog":
        """An independent catalog with the same specs (plugins extend a copy, not the default)."""
        return Catalog(dict(self._specs), dict(self._aliases))

    def extend(self, specs: Iterable[NodeSpec]) -> "Catalog":
        for spec in specs:
            self.register(spec)
        return self


class OverlayCatalog(Catalog):
    """A graph's view of a shared catalog: ``lookup(type_id)`` is asked first (the graph's own
    blocks, see ``layerloom.model.blocks``), then ``base``. Registering goes to neither: extend a
    ``base.copy()`` instead, so the shared default catalog is never changed through a graph."""

    def __init__(self, base: Catalog, lookup: Callable[[str], "NodeSpec | None"],
                 listing: Callable[[], "list[NodeSpec]"] = list):
        super().__init__()
        self.base = base
        self.lookup = lookup
        self.listing = listing  # the graph's own types (its blocks), listed after the base's

    def register(self, spec: NodeSpec, *, replace: bool = False) -> NodeSpec:
        raise LayerLoomError("register node types in a catalog of your own (catalog.copy()), not a graph's view")

    def unregister(self, type_id: str) -> None:
        raise LayerLoomError("a graph's catalog view cannot unregister node types")

    def resolve(self, type_id: str) -> str | None:
        if self.lookup(type_id) is not None:
            return type_id
        return self.base.resolve(type_id)

    def get(self, type_id: str) -> NodeSpec | None:
        spec = self.lookup(type_id)
        return spec if spec is not None else self.base.get(type_id)

    def __iter__(self) -> Iterator[NodeSpec]:
        yield from self.base
        yield from self.listing()

    def __len__(self) -> int:
        return len(self.base) + len(self.listing())

    def categories(self) -> dict[str, list[NodeSpec]]:
        result = self.base.categories()
        for spec in self.listing():
            result.setdefault(spec.category, []).append(spec)
        return result

    def copy(self) -> Catalog:
        """An independent plain catalog with the base's specs (a graph's blocks are not included)."""
        return self.base.copy()


_DEFAULT: Catalog | None = None


def default_catalog() -> Catalog:
    """The built-in node types and the installed plugins' (created on first use; a plugin that
    cannot load is skipped and reported by ``layerloom.catalog.plugins.last_report()``)."""
    global _DEFAULT
    if _DEFAULT is None:
        from layerloom.catalog.builtin import builtin_specs
        from layerloom.catalog.plugins import install_plugins

        catalog = Catalog().extend(builtin_specs())
        install_plugins(catalog)
        _DEFAULT = catalog
    return _DEFAULT
