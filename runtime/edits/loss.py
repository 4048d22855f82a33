"""Adding what a graph needs to train: a Target and a loss on its prediction.

An imported model (ONNX, PyTorch) or a network drawn without one has an Output but no loss, and F5
says so. ``plan_add_loss`` is the one-click answer: it wires a loss to what feeds the first Output and
a Target to the loss, chosen by the task:

- ``classification`` (or, with no task given, a prediction ``[N, C]`` with C >= 2): CrossEntropyLoss
  and a Target of class indices (``[]``, int64);
- ``binary``: BCEWithLogitsLoss and a float Target shaped like the prediction;
- ``regression`` (or anything else): MSELoss and a float Target shaped like the prediction.

A model that ends in Softmax (or Sigmoid), as exported classifiers often do, is trained on the scores
before it (CrossEntropyLoss and BCEWithLogitsLoss apply them themselves: training on probabilities would
apply softmax twice); one that ends in LogSoftmax gets NLLLoss. Class scores shaped ``[N, C, 1, 1]`` (a
pooled convolutional classifier such as SqueezeNet) go through a Flatten first.

The loss lands under the Output and the Target to its left, as the examples have them (the editor
then makes room around them); a Target left unwired (its loss deleted) whose labels fit is used again. Refused, with the reason: a graph that has a loss already, no Output,
an Output with nothing wired into it, or a prediction whose shape is not known yet.
"""

from __future__ import annotations

from layerloom.catalog.spec import LOSS_ROLE, OUTPUT, TARGET_ROLE
from layerloom.edits.plan import AddNode, Connect, Plan, Scope, fresh_id, graph_at, refused
from layerloom.model.graph import Edge, Graph

CLASSIFICATION, BINARY, REGRESSION = "classification", "binary", "regression"
BELOW = 140.0       # the loss's row under the Output's
LEFT = 260.0        # the Target's column left of the loss's
WHAT = "Cannot add a loss"
NO_LOSS = "no_loss"  # the code of the problem F5 reports for a graph without a loss (layerloom.training.plan)


def loss_for(task: str | None, features: tuple) -> tuple[str, dict]:
    """The loss type and the Target's params for a prediction of ``features`` (its shape without the
    batch) and ``task`` (None: guessed from the shape)."""
    if task is None:
        task = CLASSIFICATION if len(features) == 1 and isinstance(features[0], int) and features[0] >= 2 \
            else REGRESSION
    if task == CLASSIFICATION:
        return "CrossEntropyLoss", {"shape": [], "dtype": "int64"}
    shape = [d for d in features] if all(isinstance(d, int) for d in features) else [1]
    return ("BCEWithLogitsLoss" if task == BINARY else "MSELoss"), {"shape": shape, "dtype": "float32"}


def _source(graph: Graph, node_id: str, port: str = "in") -> Edge | None:
    return next((e for e in graph.edges if e.dst == node_id and e.dst_port == port), None)


def _scores(graph: Graph, analysis, feed: Edge, task: str | None) -> tuple[Edge, tuple, str | None]:
    """Where the loss takes its prediction, that prediction's shape without the batch, and the task.
    A model that ends in Softmax or Sigmoid (an exported classifier gives probabilities) is trained on
    the scores before it, since CrossEntropyLoss and BCEWithLogitsLoss apply those themselves; one that
    ends in LogSoftmax gets NLLLoss on its output."""
    def features(edge: Edge) -> tuple | None:
        info = analysis.nodes.get(edge.src) if analysis is not None else None
        spec = info.outputs.get(edge.src_port) if info is not None else None
        return tuple(spec.shape[1:]) if spec is not None else None

    last = graph.node(feed.src)
    before = _source(graph, last.id) if last.type_id in ("Softmax", "Sigmoid") else None
    if before is not None and task in (None, CLASSIFICATION if last.type_id == "Softmax" else BINARY):
        return before, features(before), task or (CLASSIFICATION if last.type_id == "Softmax" else BINARY)
    if last.type_id == "LogSoftmax" and task in (None, CLASSIFICATION):
        return feed, features(feed), "log_probabilities"
    return feed, features(feed), task


def plan_add_loss(root: Graph, analysis, task: str | None = None, scope: Scope = None) -> Plan:
    """A Target and a loss wired to the prediction of the graph's first Output (one undo step), or a
    refusal saying why not. ``analysis``: ``layerloom.analyze(root)`` (it gives the prediction's shape)."""
    graph = graph_at(root, scope)
    specs = {node.id: graph.catalog.get(node.type_id) for node in graph}
    losses = [graph.node(i).label() for i, spec in specs.items() if spec is not None and spec.role == LOSS_ROLE]
    if losses:
        return refused(WHAT, f"the graph has a loss already ({losses[0]})")
    outputs = [graph.node(i) for i, spec in specs.items() if spec is not None and spec.role == OUTPUT]
    if not outputs:
        return refused(WHAT, "the graph has no Output: connect the last layer to an Output first")
    wired = {edge.dst: edge for edge in graph.edges}
    output = next((o for o in outputs if o.id in wired), None)
    if output is None:
        return refused(WHAT, f"nothing is wired into {outputs[0].label()}: connect the last layer to it first")
    feed, features, task = _scores(graph, analysis, wired[output.id], task)
    if features is None:
        return refused(WHAT, f"the shape reaching {output.label()} is not known yet: fix the graph's problems first")
    x, y = output.position
    edits, taken = [], list(graph.nodes)
    # class scores [N, C, 1, 1] (a pooled convolutional classifier) are flattened to [N, C] first
    squeezable = len(features) > 1 and all(d == 1 for d in features[1:]) and isinstance(features[0], int)
    if squeezable and task in (None, CLASSIFICATION, "log_probabilities"):
        flatten_id = fresh_id("Flatten", taken)
        taken.append(flatten_id)
        edits += [AddNode(flatten_id, "Flatten", graph.unique_name("scores"), {}, (x - LEFT, y + BELOW), scope=scope),
                  Connect(Edge(feed.src, feed.src_port, flatten_id, "in"), scope=scope)]
        feed, features, y = Edge(flatten_id, "out", "", ""), features[:1], y + BELOW
    if task == "log_probabilities":
        loss_type, target_params = "NLLLoss", {"shape": [], "dtype": "int64"}
    else:
        loss_type, target_params = loss_for(task, features)
    loss_id = fresh_id(loss_type, taken)
    taken.append(loss_id)
    edits += [AddNode(loss_id, loss_type, graph.unique_name("loss"), {}, (x, y + BELOW), scope=scope),
              Connect(Edge(feed.src, feed.src_port, loss_id, "pred"), scope=scope)]
    # a Target left unwired (its loss deleted) that holds the labels this loss needs is used again
    used = {edge.src for edge in graph.edges}
    target = next((node for node in graph if specs[node.id] is not None and specs[node.id].role == TARGET_ROLE
                   and node.id not in used and node.params.get("dtype") == target_params["dtype"]), None)
    if target is None:
        target_id = fresh_id("Target", taken)
        edits.insert(0, AddNode(target_id, "Target", graph.unique_name("label"), target_params,
                                (x - LEFT, y + BELOW), scope=scope))
    else:
        target_id = target.id
    edits.append(Connect(Edge(target_id, "out", loss_id, "target"), scope=scope))
    return Plan(f"Add {loss_type}", edits)
