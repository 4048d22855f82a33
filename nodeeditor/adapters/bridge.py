"""The one adapter between the runtime's plain-Python graph events and Qt.

``GraphBridge`` subscribes to a ``layerloom.Graph`` and re-emits each event as a Qt signal; views
connect to the signals and never to the graph. After any burst of edits (a macro, a paste) it runs
shape inference once, on the next turn of the event loop, and announces the fresh ``Analysis``.

Problems a training run found (a dataset that does not fit a node: 5 class scores for 10 classes) join
the analysis as ``run problems``: the Problems list and the node's badge show them like any other,
until the next edit that could change them (the run's verdict was about the graph as it was).
"""

from __future__ import annotations

from dataclasses import replace

from PySide6.QtCore import QObject, QTimer, Signal

from layerloom import Graph, analyze
from layerloom.model.analysis import Analysis


class GraphBridge(QObject):
    nodeAdded = Signal(str)            # node id
    nodeRemoved = Signal(str)
    nodeChanged = Signal(str)          # params, name, ui data or trainable changed
    nodeMoved = Signal(str, float, float)
    edgeAdded = Signal(object)         # layerloom.Edge
    edgeRemoved = Signal(object)
    metaChanged = Signal(str)          # name, description or training
    blockChanged = Signal(str)         # a block was defined, changed or taken away (its name)
    changed = Signal()                 # after any edit
    analyzed = Signal(object)          # layerloom.model.analysis.Analysis, coalesced after edits
    runProblemsCleared = Signal()      # an edit took away the problems the last run found

    def __init__(self, graph: Graph, parent: QObject | None = None, analyzer=analyze, watch_blocks: bool = True):
        super().__init__(parent)
        self.graph = graph
        self.analyzer = analyzer  # graph -> Analysis (a block's inside is analysed with its params filled in)
        self.run_problems: list = []   # from the last run's failure, until the next structural edit
        self.analysis: Analysis = analyzer(graph)
        self._pending = QTimer(self)
        self._pending.setSingleShot(True)
        self._pending.setInterval(0)
        self._pending.timeout.connect(self.reanalyze)
        self._stale = False  # an edit since the last analysis could change shapes or problems
        events = graph.events
        self._subscriptions = [
            (events.node_added, self._structural(lambda node: self.nodeAdded.emit(node.id))),
            (events.node_removed, self._structural(lambda node: self.nodeRemoved.emit(node.id))),
            (events.edge_added, self._structural(self.edgeAdded.emit)),
            (events.edge_removed, self._structural(self.edgeRemoved.emit)),
            (events.param_changed, self._structural(lambda node, *_: self.nodeChanged.emit(node.id))),
            (events.node_renamed, self._structural(lambda node, *_: self.nodeChanged.emit(node.id))),
            (events.ui_changed, lambda node, *_: self.nodeChanged.emit(node.id)),
            (events.trainable_changed, self._structural(lambda node, *_: self.nodeChanged.emit(node.id))),
            (events.node_moved, lambda node, x, y: self.nodeMoved.emit(node.id, x, y)),
            (events.meta_changed, self._meta_changed),
            (events.block_changed, self._structural(self._block_changed)),
            (events.changed, self._on_changed),
        ]
        for event, callback in self._subscriptions:
            event.subscribe(callback)
        # an edit inside one of the graph's blocks changes its instances: analyse again then (whether
        # the inside is open on the canvas or an undo changes it later)
        self._watch_blocks = watch_blocks
        self._watched: dict[str, Graph] = {}
        self._rewatch()

    def _block_changed(self, name: str, *_) -> None:
        self._rewatch()
        self.blockChanged.emit(name)

    def _rewatch(self) -> None:
        wanted = {name: block.graph for name, block in self.graph.blocks.items()} if self._watch_blocks else {}
        for name, inside in list(self._watched.items()):
            if wanted.get(name) is not inside:
                inside.events.changed.unsubscribe(self.schedule)
                del self._watched[name]
        for name, inside in wanted.items():
            if name not in self._watched:
                inside.events.changed.subscribe(self.schedule)
                self._watched[name] = inside

    def _structural(self, emit):
        """Wrap a handler of an edit that can change shapes or problems (moves cannot)."""
        def handler(*args):
            self._stale = True
            self._forget_run_problems()
            emit(*args)
        return handler

    def _meta_changed(self, key: str, value) -> None:
        if key == "training" and self.run_problems:   # the settings a run failed with have changed
            self._stale = True
            self._forget_run_problems()
        self.metaChanged.emit(key)

    def _forget_run_problems(self) -> None:
        """An edit makes the last run's verdict stale: its problems go (on the next analysis)."""
        if self.run_problems:
            self.run_problems = []
            self.runProblemsCleared.emit()

    def _on_changed(self) -> None:
        self.changed.emit()
        if self._stale:
            self._pending.start()

    def schedule(self) -> None:
        """Analyse again on the next turn of the event loop (something this graph uses changed: the
        inside of one of its blocks)."""
        self._stale = True
        self._pending.start()

    def reanalyze(self) -> Analysis:
        """Run shape inference now (it also runs by itself after edits) and announce it."""
        self._pending.stop()
        self._stale = False
        self.analysis = self._with_run_problems(self.analyzer(self.graph))
        self.analyzed.emit(self.analysis)
        return self.analysis

    def current(self) -> Analysis:
        """The analysis of the graph as it is now: the last one, or a fresh one after an edit that
        has not been analysed yet."""
        return self.reanalyze() if self._stale else self.analysis

    def set_run_problems(self, problems) -> None:
        """Show what a run found wrong (``analysis.Problem`` records naming nodes) with the graph's own
        problems; an empty list takes them away. Announced at once."""
        if not problems and self.run_problems:
            self.runProblemsCleared.emit()
        self.run_problems = list(problems)
        self.analysis = self._with_run_problems(self.analyzer(self.graph))
        self.analyzed.emit(self.analysis)

    def _with_run_problems(self, analysis: Analysis) -> Analysis:
        if not self.run_problems:
            return analysis
        known = {(p.node_id, p.message) for p in analysis.problems}
        extra = [p for p in self.run_problems if (p.node_id, p.message) not in known
                 and (p.node_id is None or p.node_id in self.graph)]
        return replace(analysis, problems=analysis.problems + extra) if extra else analysis

    def detach(self) -> None:
        """Stop listening (the document is closing): the graph keeps no reference to Qt objects."""
        for event, callback in self._subscriptions:
            event.unsubscribe(callback)
        self._subscriptions = []
        self._watch_blocks = False
        self._rewatch()
        self._pending.stop()
