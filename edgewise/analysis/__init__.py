"""Analysis of measured results: statistics, comparisons, findings and the SLA recommendation.

Public API (stable; the report and the CLI build on it):

Results (results.py, loading.py, reference.py, generic_csv.py)
    load_results(path, format="auto"|"edgewise"|"reference"|"csv") -> ResultSet
    ResultSet(cells, study, environment, emulation): .cell(name), .find(subject, chain, placement),
        .has(name), .names, .subjects, .chains (identity first), .placements (tier order),
        .filter(subjects=, chains=, placements=, ok_only=), .to_dict(), ResultSet.from_dict(d)
    CellResult: subject, chain, placement, name, status, error, task, metric, accuracy (fractions),
        primary_accuracy, correct (bool array | None), latency_s, warmup_latency_s, breakdown_s, artifact,
        profile (the artifact's operator profile on the host), memory (its serving memory per part)

Statistics (stats.py, bootstrap.py, tails.py, paired.py)
    kruskal(groups) -> KruskalResult(h, p, df); conover(groups) -> ConoverResult(p, t) (k x k, unadjusted)
    adjust_p(p_values, "holm"|"bonferroni"|"fdr_bh"|"none"); cliffs_delta(x, y) -> CliffsDelta(d, magnitude)
    wilcoxon(x, y) -> WilcoxonResult; paired_accuracy(baseline_correct, candidate_correct, seed) -> PairedAccuracy
    tail_percentile(samples, percentile, seed) -> TailEstimate (value None = insufficient samples; .bound:
        MLPerf early-stopping upper bound, upper_bound(samples, percentile) -> UpperBound | None)
    Interval(low, high, level)

Comparisons (compare.py, accuracy.py, analyses.py, findings.py)
    compare_cells(rs, cells, p_adjust="holm") -> Comparison(id, title, cells, kruskal, medians_s, pairs)
        Comparison.pair(a, b) -> PairComparison(conover_p, adjusted_p, delta, magnitude, ratio, ratio_ci,
        significant, faster, verdict); .fastest()
    accuracy_drop(rs, cell) -> AccuracyDrop | None (drop_points, paired)
    default_analyses(rs, p_adjust="holm") -> Analyses(placement_comparisons, chain_comparisons,
        accuracy_drops, accuracy_tests, speedups, speedup_summaries, partition_comparisons (a split placement's
        chains against identity on its first tier), medians); .comparison(id); .median_ci(cell) -> Interval; .to_dict()
    findings(rs, analyses) -> list[Finding(kind, text, refs)]

Recommendation (recommend.py, pareto.py)
    recommend(rs, max_latency_ms, percentile, max_accuracy_drop, placements=None, *, medians=None,
              max_model_mb=None, max_memory_mb=None)
        -> Recommendation (defaults: edgewise.sla.DEFAULT_SLA; medians: Analyses.medians, reused replicates;
        model size and peak serving memory judged per part on its tier: footprint.py)
        .best(subject), .ranked(subject) -> [CellVerdict], .pareto(subject), .to_dict()
    pareto_front(points: [Point(name, latency_s, accuracy)]) -> front, fastest first

Profiles (profiles.py): profile_view(rs, cell) -> ProfileView | None: the cell's operator profile on its
    tiers (host figures / tier speed), and for an int8 cell its float counterpart's, per operator family

JSON (jsonable.py): to_json, NaN and infinity as null. The terminal's tables are the commands' own
(edgewise/commands/render.py): nothing here draws.
"""

from edgewise.analysis.accuracy import AccuracyDrop, accuracy_drop
from edgewise.analysis.analyses import Analyses, Speedup, SpeedupSummary, default_analyses
from edgewise.analysis.bootstrap import Interval
from edgewise.analysis.compare import Comparison, PairComparison, compare_cells
from edgewise.analysis.findings import Finding, findings
from edgewise.analysis.loading import load_results
from edgewise.analysis.paired import PairedAccuracy, paired_accuracy
from edgewise.analysis.pareto import Point, pareto_front
from edgewise.analysis.recommend import CellVerdict, Recommendation, recommend
from edgewise.analysis.results import CellResult, ResultSet
from edgewise.analysis.stats import adjust_p, cliffs_delta, conover, kruskal, wilcoxon
from edgewise.analysis.tails import TailEstimate, tail_percentile

__all__ = [
    "AccuracyDrop", "Analyses", "CellResult", "CellVerdict", "Comparison", "Finding", "Interval", "PairComparison",
    "PairedAccuracy", "Point", "Recommendation", "ResultSet", "Speedup", "SpeedupSummary", "TailEstimate",
    "accuracy_drop", "adjust_p", "cliffs_delta", "compare_cells", "conover", "default_analyses", "findings",
    "kruskal", "load_results", "pareto_front", "paired_accuracy", "recommend", "tail_percentile", "wilcoxon",
]
