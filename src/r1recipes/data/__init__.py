"""Training data: datasets loaded and mixed, prompts formatted, and the package's own synthetic problems with
their procedurally solved cold-start traces."""
