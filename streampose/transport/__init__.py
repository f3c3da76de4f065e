"""Shared-memory transport between stage processes: rings of fixed slots."""
