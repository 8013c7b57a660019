"""Network architectures of the built-in subjects (imported lazily: they pull in torch)."""
