"""Output: the study's store, results.json written from it, and the artifact to ship."""
