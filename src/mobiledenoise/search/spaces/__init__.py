"""One search space per model family (registered with `search.space.register_space`)."""
