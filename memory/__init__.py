"""memchat's storage layer: the SQLite database, and (later) vectors, documents and the graph."""
