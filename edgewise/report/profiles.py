"""The report's per-operator section: where each cell's model time goes, int8 against fp32, the costliest
nodes and each cell's footprint; shared by the HTML page and summary.md (rows), drawn by the HTML page."""

from __future__ import annotations

from html import escape

from edgewise.analysis.footprint import footprint, largest
from edgewise.analysis.profiles import ProfileView, profile_view
from edgewise.analysis.why import why
from edgewise.report.htmlparts import how_to_read, note, section, table
from edgewise.report.tables import ReportContext, Rows

TOP_TYPES = 3
TOP_NODES = 5


def _views(ctx: ReportContext) -> list[tuple[object, ProfileView | None]]:
    return [(c, profile_view(ctx.results, c)) for c in ctx.results.cells]


def _types_text(view: ProfileView) -> str:
    return ", ".join(f"{op} {ms:.3g} ms ({share:.0%})" for op, ms, share in view.top_types(TOP_TYPES))


def top_type_rows(ctx: ReportContext) -> Rows:
    """Every cell: its model's time a run on its tiers, the op types that take most of it, its footprint."""
    rows = []
    for cell, view in _views(ctx):
        parts = footprint(cell)
        sizes = [largest([p.model_mb for p in parts]), largest([p.peak_memory_mb for p in parts])]
        if view is None:
            rows.append([cell.name, None, "no profile", *sizes])
            continue
        rows.append([cell.name, view.profile.run_ms, _types_text(view), *sizes])
    return ["cell", "model ms a run", f"top {TOP_TYPES} op types (ms, share of the kernels' time)", "model MB",
            "peak memory MB"], rows


def why_rows(ctx: ReportContext) -> Rows:
    """Every cell whose operator shrinks something: what share of its time end to end it can act on."""
    rows = [[w.cell, ", ".join(w.acts_on) if "*" not in w.acts_on else "the whole model", w.model_share,
             w.latency_share, w.reach, w.bound, w.speedup] for w in why(ctx.results)]
    return ["cell", "acts on", "share of the model's time", "model's share of the latency", "share it acts on",
            "at most ×", "measured ×"], rows


def _family_table(view: ProfileView) -> str:
    rows = [[f.family, f.fp32_ms, f.int8_ms, f.ratio, ", ".join(f.kernels) or "–"] for f in view.families]
    return table(["operator", "fp32 ms", "int8 ms", "fp32 / int8 ×", "int8 kernels"], rows,
                 caption=f"{view.cell} against {view.baseline_cell}")


def _node_table(view: ProfileView, tiers: list[str]) -> str:
    rows = [[tiers[min(part, len(tiers) - 1)], node.name, node.op_type, node.ms]
            for part, node in view.costliest_nodes(TOP_NODES)]
    return table(["tier", "node", "kernel", "ms"], rows, caption=f"{view.cell}: the {TOP_NODES} costliest nodes")


def _why(ctx: ReportContext) -> str:
    headers, rows = why_rows(ctx)
    if not rows:
        return ""
    return ("<h3>Why an operator pays, or not</h3>"
            + how_to_read("What a cell's operator shrinks (quantization and pruning: the linear layers; distillation: "
                          "the whole model), as a share of its float model's time on the same tiers, times the "
                          "model's share of the end-to-end latency: the part of the latency the operator can act on. "
                          "Were it to remove all of it, the cell would run at most 1 / (1 - that share) times faster; "
                          "a bound near 1 says the model leaves the operator little to gain, whatever it does.")
            + table(headers, rows, caption="What each operator can act on, against what it gained"))


def profiles(ctx: ReportContext) -> str:
    views = _views(ctx)
    if not any(v is not None for _, v in views):
        return section("profiles", "4b. Per operator", note(
            "These results carry no operator profiles (a study run before edgewise took them, or an imported "
            "data set): run the study again to add them; it resumes and measures nothing twice."))
    headers, rows = top_type_rows(ctx)
    compared = [(c, v) for c, v in views if v is not None and v.families]
    details = [f"<details><summary>{escape(v.cell)}: fp32 against int8 per operator</summary>{_family_table(v)}"
               "</details>" for _, v in compared]
    nodes = [f"<details><summary>{escape(v.cell)}: costliest nodes</summary>"
             f"{_node_table(v, c.placement.split('-'))}</details>" for c, v in views if v is not None]
    body = (how_to_read("ONNX Runtime's own profiler, run on the host with each tier's thread count on the latency "
                        "inputs after preprocessing (model only), divided by the tier's speed: the time of the model "
                        "alone, which the end-to-end latency adds preprocessing and links to. An int8 cell is set "
                        "beside the cell of its chain's input (identity for sptq and qat, distill for distill+sptq) "
                        "per operator: its int8 kernels against the float kernels they replace, and the conversions "
                        "between them. Peak memory: a fresh process serving the cell's model on its tier.")
            + table(headers, rows, caption="Every cell's model time by op type, and its footprint")
            + _why(ctx)
            + (f"<h3>fp32 against int8 ({len(compared)} cells)</h3>" + "".join(details) if compared else "")
            + "<h3>The costliest nodes</h3>" + "".join(nodes))
    return section("profiles", "4b. Per operator", body)
