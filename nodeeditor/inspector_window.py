"""A read-only window over the runtime's analysis: nodes, shapes, parameter counts, problems."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QBrush, QColor, QKeySequence
from PySide6.QtWidgets import (QDockWidget, QFileDialog, QLabel, QListWidget, QListWidgetItem, QMainWindow,
                               QMessageBox, QTreeWidget, QTreeWidgetItem)

from runtime import Graph, LayerLoomError, analyze, load_graph
from runtime.analysis import ERROR
from runtime.resources import example_path, example_paths
from runtime.graphfile import SUFFIX


class InspectorWindow(QMainWindow):
    def __init__(self) -> None:
        super().__init__()
        self.graph: Graph | None = None
        self.path: Path | None = None
        self.nodes_view = QTreeWidget()
        self.nodes_view.setHeaderLabels(["Node", "Type", "Output shape", "Parameters"])
        self.nodes_view.setRootIsDecorated(False)
        self.nodes_view.setAlternatingRowColors(True)
        self.nodes_view.header().setStretchLastSection(False)
        self.setCentralWidget(self.nodes_view)
        self.problems_view = QListWidget()
        self.problems_view.itemActivated.connect(self._select_problem_node)
        dock = QDockWidget("Problems", self)
        dock.setObjectName("problems")
        dock.setWidget(self.problems_view)
        self.addDockWidget(Qt.BottomDockWidgetArea, dock)
        self.resizeDocks([dock], [150], Qt.Vertical)
        self.totals = QLabel()
        self.statusBar().addPermanentWidget(self.totals)
        self._build_menus()

    def _build_menus(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        open_action = QAction("&Open...", self, shortcut=QKeySequence.Open, triggered=self._ask_open)
        file_menu.addAction(open_action)
        file_menu.addSeparator()
        file_menu.addAction(QAction("&Quit", self, shortcut=QKeySequence.Quit, triggered=self.close))
        examples = self.menuBar().addMenu("&Examples")
        for path in example_paths():
            stem = path.name[: -len(SUFFIX)]
            action = QAction(stem.replace("_", " ").title(), self)
            action.triggered.connect(lambda checked=False, s=stem: self.open_example(s))
            examples.addAction(action)

    # ------------------------------------------------------------ opening
    def open_example(self, stem: str) -> None:
        self.open_path(example_path(stem))

    def open_path(self, path: Path) -> bool:
        try:
            graph = load_graph(path)
        except LayerLoomError as exc:
            QMessageBox.warning(self, "Cannot open graph", str(exc))
            return False
        self.graph, self.path = graph, Path(path)
        self.refresh()
        return True

    def _ask_open(self) -> None:
        name, _ = QFileDialog.getOpenFileName(self, "Open graph", "", f"LayerLoom graphs (*{SUFFIX} *.json)")
        if name:
            self.open_path(Path(name))

    # ------------------------------------------------------------ display
    def refresh(self) -> None:
        graph = self.graph
        if graph is None:
            return
        analysis = analyze(graph)
        self.setWindowTitle(f"{graph.name} - LayerLoom")
        self.nodes_view.clear()
        bad = {p.node_id for p in analysis.errors}
        order = analysis.order + [n for n in graph.nodes if n not in set(analysis.order)]
        for node_id in order:
            node, info = graph.node(node_id), analysis.nodes[node_id]
            shapes = ", ".join(str(s) for s in info.outputs.values())
            if not shapes and info.spec is not None and not info.spec.outputs:  # an Output: what it receives
                shapes = ", ".join(str(s) for s in info.inputs.values() if s is not None)
            shapes = (shapes or "?").replace("[]", "scalar")
            count = f"{info.param_count:,}" if info.param_count is not None else "?"
            item = QTreeWidgetItem([node.name, node.type_id, shapes, count])
            item.setData(0, Qt.UserRole, node_id)
            item.setTextAlignment(3, Qt.AlignRight | Qt.AlignVCenter)
            if node_id in bad:
                item.setForeground(0, QBrush(QColor("#c62828")))
            self.nodes_view.addTopLevelItem(item)
        for column in range(4):
            self.nodes_view.resizeColumnToContents(column)
            self.nodes_view.setColumnWidth(column, self.nodes_view.columnWidth(column) + 24)
        self.problems_view.clear()
        for problem in analysis.errors + analysis.warnings:
            item = QListWidgetItem(problem.describe())
            item.setData(Qt.UserRole, problem.node_id)
            if problem.severity == ERROR:
                item.setForeground(QBrush(QColor("#c62828")))
            self.problems_view.addItem(item)
        if not analysis.problems:
            self.problems_view.addItem("No problems.")
        self.totals.setText(f"{len(graph)} nodes  |  {analysis.total_params:,} parameters")
        self.statusBar().showMessage(str(self.path) if self.path else "")

    def _select_problem_node(self, item: QListWidgetItem) -> None:
        node_id = item.data(Qt.UserRole)
        for i in range(self.nodes_view.topLevelItemCount()):
            row = self.nodes_view.topLevelItem(i)
            if row.data(0, Qt.UserRole) == node_id:
                self.nodes_view.setCurrentItem(row)
                self.nodes_view.scrollToItem(row)
                return
