"""streampose.backends."""
