"""streampose.runtime."""
