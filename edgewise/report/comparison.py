"""Section 7: this study's speed-ups beside the reference study's, with the likely reason for a difference."""

from __future__ import annotations

from edgewise.analysis.results import ResultSet
from edgewise.report.htmlparts import figures, how_to_read, note, section, table
from edgewise.report.sections import speedup_charts
from edgewise.report.tables import ReportContext, speedup_rows

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
    if "cloud" in placement:
        reasons.append("the reference cloud tier had an A100 GPU, this one is a CPU share")
    if "-" in placement:
        reasons.append("the reference sent tensors as base64 JSON over HTTP through a 1 Mbit/s link to cloud")
    if not cold_here:
        reasons.append("the reference created an inference session per request (model loading in every latency); "
                       "here sessions are warm, so load-time savings of smaller models do not count")
    if "sptq" in chain or "qat" in chain:
        reasons.append("int8 kernels depend on the CPU's vector instructions")
    return "; ".join(reasons[:2])


def against_reference(ctx: ReportContext) -> str:
    if ctx.results.study.get("reference"):
        return section("reference", "7. Against the reference study",
                       note("These results are the reference study's published data; there is nothing to set "
                            "beside them."))
    if not ctx.reference:
        return section("reference", "7. Against the reference study",
                       note("No reference data was given (edgewise report --reference DIR), so this study is not "
                            "compared with the published one."))
    ours = {(row[0], row[1]): row[3] for row in speedup_rows(ctx.results)[1]}
    rows, charts = [], []
    for ref in ctx.reference:
        charts += speedup_charts(ref, ctx.colours, "reference")
        for chain, placement, lo, mean, hi, n in speedup_rows(ref)[1]:
            here = ours.get((chain, placement))
            if here is None:
                rows.append([chain, placement, mean, None, "not measured here", ""])
                continue
            verdict = _verdict(here, mean)
            rows.append([chain, placement, mean, here, verdict,
                         "" if verdict == "agrees" else _reason(chain, placement, ctx.results)])
    rows.sort(key=lambda row: (row[3] is None, row[4] != "differs", row[0]))
    body = (how_to_read("each row sets the mean speed-up over identity (ratio of median latencies) published by "
                        "the reference study beside this study's; 'agrees' when both are faster, both slower, or "
                        f"both within ±{_AGREE_BAND:.0%} of 1×. The reference's own charts follow for comparison "
                        "with section 5.")
            + table(["chain", "placement", "reference mean ×", "this study mean ×", "verdict", "likely reason"], rows,
                    classes={5: "reason"})
            + figures(charts))
    return section("reference", "7. Against the reference study", body)
