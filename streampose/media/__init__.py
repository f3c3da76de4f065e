"""streampose.media."""
