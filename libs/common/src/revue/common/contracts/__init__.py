"""What the services say to each other: subjects, streams, events, errors, languages, keys.

Pure definitions, no I/O: a service (or an outside client) can import these
to speak Revue's bus without any of the machinery that carries it.
"""
