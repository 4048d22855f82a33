"""The Train workspace.

- ``controller``: ``Dashboard``, which builds the workspace (widgets, docks, the Run menu) and follows
  the document; its parts: ``shown_run`` (which run the views show and say they show),
  ``run_lifecycle`` (start, pause, stop, a run's events), ``results`` (Try it, the gallery, checkpoints,
  overlays, Export);
- ``train_view``, ``run_header``, ``run_texts``: the centre, its header and what a run says in words;
- ``charts`` with ``chart_series``, ``chart_plots``, ``chart_readout``, ``chart_export`` and
  ``smoothing``: the live charts;
- ``evaluation`` with ``confusion``, ``class_scores``, ``mistakes`` and ``verdicts``: how good the model is;
- ``tryit`` with ``drawing_pad`` and ``prediction_views``: try the model on a sample or a drawing.

May import: ``panels`` and everything below it.
"""
