"""Tests of streampose.runtime: the stage runner and the supervisor."""
