"""Sources that keep a collection current by feeding the work queue: a watched folder and a message stream.

Each turns what it sees into changes (a document to write, an id to delete) and hands them to ``seek.jobs.enqueue``,
the one way into the queue; ``pgseek worker`` (or a worker run in the same process) writes them (docs/sources.md).
"""
