"""Shared test factories, one module per concern: ``shared`` (the ../shared data folder),
``cli`` (the command line in a subprocess), ``waiting`` (a condition with a deadline), ``shm``
(shared-memory segments), ``media`` (tiny videos and images), ``damaged`` (damaged media),
``disk`` (a full disk), ``models`` (a minimal model spec, the PAF head and the processing built
on it), ``http_server`` (a misbehaving local HTTP server).

Test modules import their helpers from here and their fixtures from conftest.py; no test
module imports another test module.
"""
