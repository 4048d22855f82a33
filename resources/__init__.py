"""LayerLoom resources: example graphs, icons and stylesheets (installed as ``layerloom_resources``)."""
