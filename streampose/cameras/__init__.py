"""Seats and the cameras they carry: the seat table the parent writes and the stages read,
and the parent's camera assigner (a cameras file applied while the run goes on)."""
