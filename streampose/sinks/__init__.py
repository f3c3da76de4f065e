"""streampose.sinks."""
