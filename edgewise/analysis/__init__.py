"""Analysis of measured results: statistics, comparisons, findings and the SLA recommendation.

Public API (stable; the report and the CLI build on it):

Results
    load_results(path, format="auto"|"edgewise"|"reference"|"csv") -> ResultSet
    ResultSet(cells, study, environment, emulation): .cell(name), .find(subject, chain, placement),
        .has(name), .names, .subjects, .chains, .placements, .filter(subjects=, chains=, placements=,
        ok_only=), .to_dict(), ResultSet.from_dict(d)
    CellResult: subject, chain, placement, name, status, error, task, metric, accuracy (fractions),
        primary_accuracy, correct (bool array | None), latency_s, warmup_latency_s, breakdown_s, artifact
"""

from edgewise.analysis.loading import load_results
from edgewise.analysis.results import CellResult, ResultSet

__all__ = ["CellResult", "ResultSet", "load_results"]
