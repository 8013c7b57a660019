"""CLI verbs; each module exposes register(app)."""
