"""streampose.stages."""
