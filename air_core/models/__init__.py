"""One loading path for every model size: real (hub or local), tiny (random weights), toy."""
