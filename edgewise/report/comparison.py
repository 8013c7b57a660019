"""Section 7: this study's speed-ups beside the reference study's, with the likely reason for a difference."""

from __future__ import annotations

from edgewise.analysis import ResultSet
from edgewise.report.htmlparts import figures, how_to_read, note, section, table
from edgewise.report.sections import speedup_charts
from edgewise.report.source import chain_facts, is_blackbox_chain
from edgewise.report.tables import Reference, ReportContext, ordered_speedups
from edgewise.vocabulary import CLOUD

_AGREE_BAND = 0.10  # within ±10% of 1× counts as "no speed-up" on both sides


def _verdict(ours: float, theirs: float) -> str:
    def side(x: float) -> int:
        return 0 if abs(x - 1) <= _AGREE_BAND else (1 if x > 1 else -1)

    if side(ours) == side(theirs):
        return "agrees"
    return "differs"


def _reason(chain: str, placement: str, ours: ResultSet) -> str:
    """The testbed differences most likely to explain a disagreement, most specific first."""
    reasons = []
    cold_here = bool((ours.study.get("measure") or {}).get("cold_start"))
    if CLOUD in placement:
        reasons.append("the reference cloud tier had an A100 GPU, this one is a CPU share")
    if "-" in placement:
        reasons.append("the reference sent tensors as base64 JSON over HTTP through a 1 Mbit/s link to cloud")
    if not cold_here:
        reasons.append("the reference created an inference session per request (model loading in every latency); "
                       "here sessions are warm, so load-time savings of smaller models do not count")
    if chain_facts(chain, ours)["int8"]:
        reasons.append("int8 kernels depend on the CPU's vector instructions")
    return "; ".join(reasons[:2])


def _reference_for(chain: str, placement: str, references: list[Reference], ours: ResultSet) -> Reference | None:
    """The reference of the chain's kind (black-box study for sptq/partition chains) that measured it, else any."""
    def measured(ref: Reference) -> bool:
        return any((s.chain, s.placement) == (chain, placement) for s in ref.analyses.speedup_summaries)

    preferred = sorted(references, key=lambda ref: (ref.results.study.get("reference") == "blackbox")
                       != is_blackbox_chain(chain, ours))
    return next((ref for ref in preferred if measured(ref)), None)


def against_reference(ctx: ReportContext) -> str:
    if ctx.results.study.get("reference"):
        return section("reference", "7. Against the reference study",
                       note("These results are the reference study's published data; there is nothing to set "
                            "beside them."))
    if not ctx.reference:
        return section("reference", "7. Against the reference study",
                       note("This study has no chain the reference study measured, so it is not compared with the "
                            "published one (edgewise report --reference CSV names another file)."))
    rows, unmatched = [], []
    # The reference study served its models as edgewise's default runtime does: only those cells compare.
    for chain, placement, here in ((s.chain, s.placement, s.mean) for s in ordered_speedups(ctx.results, ctx.analyses)
                                   if not s.runtime):
        ref = _reference_for(chain, placement, ctx.reference, ctx.results)
        if ref is None:
            unmatched.append(f"{chain}@{placement}")
            continue
        theirs = next(s.mean for s in ref.analyses.speedup_summaries if (s.chain, s.placement) == (chain, placement))
        verdict = _verdict(here, theirs)
        rows.append([chain, placement, ref.label, theirs, here, verdict,
                     "" if verdict == "agrees" else _reason(chain, placement, ctx.results)])
    rows.sort(key=lambda row: (row[5] != "differs", row[0]))
    charts = [chart for ref in ctx.reference for chart in speedup_charts(ref.results, ref.analyses, ctx.colours, ref.label)]
    body = (how_to_read("each row sets the mean speed-up over identity (ratio of median latencies) published by "
                        "the reference study beside this study's, taken from the white-box study (arXiv 2411.00907) "
                        "for white-box chains and from the black-box one (arXiv 2403.17154) for sptq/partition "
                        "where it measured them; 'agrees' when both are faster, both slower, or both within "
                        f"±{_AGREE_BAND:.0%} of 1×. The reference's charts, cut to this study's chains, follow for "
                        "comparison with section 5.")
            + table(["chain", "placement", "reference", "reference mean ×", "this study mean ×", "verdict",
                     "likely reason"], rows, classes={6: "reason"})
            + (note("Not measured by the reference study: " + ", ".join(unmatched) + ".") if unmatched else "")
            + figures(charts))
    return section("reference", "7. Against the reference study", body)
