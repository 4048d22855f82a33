"""LayerLoom's Qt face. It depends on ``runtime``; ``runtime`` never imports it."""
