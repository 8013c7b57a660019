"""Planning: a study file's cells, their names and plan-time checks, and the network conditions."""
