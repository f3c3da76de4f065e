"""streampose.models."""
