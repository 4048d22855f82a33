"""Small builders shared by the tests."""

from __future__ import annotations

from layerloom import Graph


def chain(graph: Graph, *nodes):
    """Wire each node's first output to the next node's first input."""
    for a, b in zip(nodes, nodes[1:]):
        graph.connect(a.id, graph.output_ports(a.id)[0].name, b.id, graph.input_ports(b.id)[0].name)
    return nodes[-1]


def add(graph: Graph, type_id: str, name: str, **params):
    return graph.add_node(type_id, name, params, node_id=name)


def mlp_graph(hidden: int = 32, classes: int = 10, features: int = 64, with_loss: bool = True) -> Graph:
    g = Graph(name="mlp")
    x = add(g, "Input", "image", shape=[features])
    fc1 = add(g, "Linear", "fc1", out_features=hidden)
    act = add(g, "ReLU", "relu1")
    fc2 = add(g, "Linear", "fc2", out_features=classes)
    out = add(g, "Output", "logits")
    chain(g, x, fc1, act, fc2, out)
    if with_loss:
        t = add(g, "Target", "label")
        loss = add(g, "CrossEntropyLoss", "loss")
        g.connect("fc2", "out", "loss", "pred")
        g.connect(t.id, "out", "loss", "target")
    return g
