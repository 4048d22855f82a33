"""Which arrays of a dataset feed which Input and Target node of a graph.

A dataset for one Input and one Target feeds them whatever its arrays are called. A graph with several
Inputs (or Targets) takes arrays named after its nodes (an NPZ's ``image`` and ``meta``, a CSV's column
groups): ``arrange_inputs`` orders the dataset's feature arrays as the criterion takes its arguments,
``arrange_targets`` its label arrays, and each node without data, or with data of the wrong shape, is a
``Problem`` located at that node. ``data_layout`` tells a loader the names to look for.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from typing import TYPE_CHECKING

from layerloom.catalog.spec import INPUT, TARGET_ROLE
from layerloom.core.shapes import INT, format_shape
from layerloom.data import Dataset
from layerloom.data.base import DataLayout, NamedArrays, node_matches
from layerloom.model.analysis import WARNING, Analysis, Problem, analyze
from layerloom.model.graph import Graph

if TYPE_CHECKING:  # the compiler (and PyTorch) is not needed to name a graph's data nodes
    from layerloom.compiler import CompiledGraph, Endpoint


def data_layout(graph: Graph, analysis: Analysis | None = None) -> DataLayout:
    """The graph's Inputs and Targets as ``(id, name)`` pairs, in the order the criterion takes them."""
    analysis = analysis or analyze(graph)
    roles = {nid: info.spec.role for nid, info in analysis.nodes.items() if info.spec is not None}
    order = [nid for nid in analysis.order if nid in roles]

    def nodes(role: str) -> tuple[tuple[str, str], ...]:
        return tuple((nid, graph.node(nid).name) for nid in order if roles[nid] == role)

    return DataLayout(nodes(INPUT), nodes(TARGET_ROLE))


def criterion_inputs(compiled: CompiledGraph) -> list[Endpoint]:
    """The Inputs the criterion takes (before its Targets), in its argument order."""
    return compiled.criterion_inputs[:len(compiled.criterion_inputs) - len(compiled.targets)]


def _node(graph: Graph, endpoint: Endpoint) -> tuple[str, str]:
    return endpoint.node_id, graph.node(endpoint.node_id).name


def _names(graph: Graph, endpoints: list[Endpoint]) -> str:
    return ", ".join(f"'{graph.node(e.node_id).name}'" for e in endpoints)


def _match(graph: Graph, endpoints: list[Endpoint], arrays: list[NamedArrays], kind: str, dataset: Dataset,
           problems: list[Problem]) -> list[NamedArrays] | None:
    """``arrays`` in the order of ``endpoints`` (one per node), or None after adding a problem per node
    that gets none."""
    if len(endpoints) == 1 and len(arrays) == 1:
        return arrays
    if len(arrays) == 1 and not arrays[0].name:
        first = graph.node(endpoints[0].node_id).name
        how = ("an NPZ with arrays named after the Inputs, or a CSV with training.dataset.inputs giving each "
               "Input its columns (e.g. {\"" + first + "\": \"0:4\", \"" + graph.node(endpoints[1].node_id).name +
               "\": [\"age\", \"height\"]})") if kind == "Input" else \
            "an NPZ with arrays named after the Targets"
        problems.append(Problem(
            "inputs" if kind == "Input" else "targets",
            f"gets no data: the graph has {len(endpoints)} {kind}s ({_names(graph, endpoints)}), but dataset "
            f"'{dataset.name}' gives one {'feature' if kind == 'Input' else 'label'} array per sample (for the "
            f"first, '{first}'); give each {kind} its own: {how}", endpoints[1].node_id,
            label=graph.node(endpoints[1].node_id).label()))
        return None
    ordered, missing = [], False
    found = ", ".join(repr(a.name or "x") for a in arrays)
    matches = [next((a for a in arrays if node_matches(a.name, _node(graph, e))), None) for e in endpoints]
    unnamed = [a for a in arrays if not a.name]
    if matches.count(None) == 1 and len(unnamed) == 1:  # an image folder's pictures beside its side table
        matches[matches.index(None)] = unnamed[0]
    for endpoint, match in zip(endpoints, matches):
        node = _node(graph, endpoint)
        if match is None:
            missing = True
            problems.append(Problem(
                "input_data" if kind == "Input" else "target_data",
                f"gets no data: dataset '{dataset.name}' has no array for it (it has {found}); name its array "
                f"'{node[1]}'" + (f" (or its id '{node[0]}')" if node[0] != node[1] else ""), endpoint.node_id,
                label=graph.node(endpoint.node_id).label()))
        ordered.append(match)
    unused = [a.name for a in arrays if not any(a is o for o in ordered)]
    if unused and not missing:
        problems.append(Problem("dataset", f"dataset '{dataset.name}': {', '.join(repr(n) for n in unused)} "
                                f"feed no {kind} of this graph and are left out", label="dataset", severity=WARNING))
    return None if missing else ordered


def arrange_inputs(graph: Graph, compiled: CompiledGraph, dataset: Dataset,
                   problems: list[Problem]) -> tuple[Dataset, Dataset]:
    """``(fitted, natural)``: the dataset with one feature array per criterion Input, in its order, each
    shaped like its Input; and the same order before reshaping (augmentation shifts the images as they are)."""
    endpoints = criterion_inputs(compiled)
    if not endpoints:
        return dataset, dataset
    ordered = _match(graph, endpoints, dataset.input_arrays(), "Input", dataset, problems)
    if ordered is None:
        return dataset, dataset
    several = len(endpoints) > 1
    if several:  # named after the node each feeds (an image folder's pictures have no name of their own)
        ordered = [a if a.name else replace(a, name=e.node_id) for e, a in zip(endpoints, ordered)]
    fitted = [_fit_features(graph, e, a, dataset, several, problems) for e, a in zip(endpoints, ordered)]
    return dataset.with_inputs(fitted), dataset.with_inputs(ordered)


def _fit_features(graph: Graph, endpoint: Endpoint, arrays: NamedArrays, dataset: Dataset, several: bool,
                  problems: list[Problem]) -> NamedArrays:
    spec = endpoint.spec
    want, got = tuple(spec.features), tuple(arrays.feature_shape)
    label = graph.node(endpoint.node_id).label()
    what = f"array '{arrays.name}' of dataset '{dataset.name}'" if several else f"dataset '{dataset.name}'"
    if spec.dtype == INT:
        problems.append(Problem("input_dtype", f"expects int64 token ids, but {what} gives float features "
                                f"{format_shape(got)}. LayerLoom's datasets give float features only, so a graph "
                                "that starts with token ids (an Embedding) cannot train on them yet; for these "
                                "features set dtype to float32", endpoint.node_id, param="dtype", label=label))
        return arrays
    if want == got:
        return arrays
    if int(np.prod(want)) == int(np.prod(got)):
        return arrays.reshaped(want)
    problems.append(Problem(
        "input_shape", f"expects samples of shape {format_shape(want)} ({int(np.prod(want)):,} values), but "
        f"{what} has samples of shape {format_shape(got)} ({int(np.prod(got)):,} values); set the shape to "
        f"{format_shape(got)}", endpoint.node_id, param="shape", label=label))
    return arrays


def arrange_targets(graph: Graph, compiled: CompiledGraph, dataset: Dataset,
                    problems: list[Problem]) -> tuple[Dataset, int]:
    """``(dataset, index)``: the dataset whose further label arrays follow the criterion's Targets in
    order, and the index of the Target its own labels (``y_*``) feed. The further arrays hold labels
    converted for their Target: int64 for an int64 Target, float32 shaped like it otherwise."""
    targets = compiled.targets
    if len(targets) <= 1 and not dataset.extra_targets:
        return dataset, 0
    primary = NamedArrays(dataset.target_name or "", {}, ())
    ordered = _match(graph, targets, [primary, *dataset.extra_targets], "Target", dataset, problems)
    if ordered is None:
        return dataset, 0
    index = next(i for i, arrays in enumerate(ordered) if arrays is primary)
    extras = [_convert_labels(graph, e, a, problems) for e, a in zip(targets, ordered) if a is not primary]
    return replace(dataset, extra_targets=tuple(extras)), index


def _convert_labels(graph: Graph, endpoint: Endpoint, arrays: NamedArrays, problems: list[Problem]) -> NamedArrays:
    spec = endpoint.spec
    want = tuple(spec.features)
    label = graph.node(endpoint.node_id).label()
    parts = {}
    for split, y in arrays.parts.items():
        y = np.asarray(y)
        if y.dtype.kind not in "biuf":
            problems.append(Problem("target_data", f"array '{arrays.name}' holds {y.dtype} values; a further "
                                    "Target's labels must be numbers", endpoint.node_id, label=label))
            return arrays
        if spec.dtype == INT:
            if y.dtype.kind == "f" and not np.all(y == np.round(y)):
                problems.append(Problem("target_data", f"is int64, but array '{arrays.name}' holds fractions; set "
                                        "its dtype to float32", endpoint.node_id, param="dtype", label=label))
                return arrays
            y = y.astype(np.int64)
        else:
            y = y.astype(np.float32)
        per_sample = int(np.prod(y.shape[1:])) if y.ndim > 1 else 1
        if per_sample != int(np.prod(want)):
            problems.append(Problem(
                "target_shape", f"declares labels of shape {format_shape(want)}, but array '{arrays.name}' has "
                f"{per_sample} value(s) per sample; set the shape to "
                f"{format_shape(y.shape[1:]) if y.ndim > 1 else '[1]'}", endpoint.node_id, param="shape", label=label))
            return arrays
        parts[split] = y.reshape((len(y),) + want)
    return NamedArrays(arrays.name, parts, want)
