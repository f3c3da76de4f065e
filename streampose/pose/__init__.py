"""streampose.pose."""
