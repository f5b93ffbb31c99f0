"""First-party task families of transferbench.

Each family lives in its own subpackage with a light ``specs`` module (metadata only, registered
through entry points) and heavy implementation modules imported only when a run needs them.
"""
