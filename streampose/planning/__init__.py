"""What the parent decides and makes before any stage starts: the run plan (validated
config, probed sources, model, process layout), ring sizes, and the run's shared state."""
