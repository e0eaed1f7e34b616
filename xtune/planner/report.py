"""Human-readable plan: the parts table, the verdict and the ranked alternatives."""

from __future__ import annotations

from xtune.planner.components import describe_method
from xtune.planner.memory import ASSUMPTIONS, PARTS
from xtune.planner.plan import Plan, Recommendation, is_tight
from xtune.planner.units import fmt_bytes, fmt_count


def render_table(plan: Plan) -> str:
    """The header lines and the per-part table with the total against the GPU's capacity."""
    scn, est = plan.scenario, plan.estimate
    work = scn.workload
    loss = (
        f"ChunkedCrossEntropy (chunks of {work.loss_chunk})"
        if work.loss_chunk
        else "CrossEntropy (full logits)"
    )
    used = est.split.world_size
    lines = [
        f"Memory plan for {scn.model} ({scn.arch.source}, {fmt_count(est.params)} params)",
        f"  method    {scn.method}: {describe_method(scn.quantizer, scn.adapter, scn.arch.config)}",
        f"  strategy  {plan.strategy} on {used} of {scn.gpus.count} GPU(s) with {fmt_bytes(scn.gpus.bytes_each)} each",
        f"  step      {work.seq_len} tokens x micro batch {work.micro_batch}, gradient checkpointing "
        f"{'on' if work.gradient_checkpointing else 'off'}, {work.precision}, {work.optimizer.name}, {loss}",
        "",
        f"  {'part':<12}{'per GPU':>12}   how",
    ]
    for part in PARTS:
        lines.append(f"  {part:<12}{fmt_bytes(est.per_gpu[part]):>12}   {est.details[part]}")
    share = est.total / scn.gpus.bytes_each
    lines.append(
        f"  {'total':<12}{fmt_bytes(est.total):>12}   of {fmt_bytes(scn.gpus.bytes_each)} ({share:.0%})"
    )
    cpu = (
        fmt_bytes(est.cpu_bytes) + " per node for offloaded states"
        if est.cpu_bytes
        else "0 (nothing offloaded)"
    )
    lines.append(f"  {'CPU RAM':<12}{'':>12}   {cpu}")
    return "\n".join(lines)


def verdict(plan: Plan) -> str:
    """``FITS: ...`` or ``DOES NOT FIT: ...`` in one line."""
    capacity, total = plan.scenario.gpus.bytes_each, plan.estimate.total
    cpu_ram, cpu = plan.scenario.cpu_ram, plan.estimate.cpu_bytes
    if total <= capacity and not plan.fits:
        return (
            f"DOES NOT FIT: the GPUs would, but offload needs {fmt_bytes(cpu)} of CPU RAM per node "
            f"({fmt_bytes(cpu_ram)} given)."
        )
    if plan.fits and is_tight(total, capacity):
        return (
            f"FITS, TIGHTLY: {fmt_bytes(capacity - total)} ({(capacity - total) / capacity:.0%}) to spare per GPU, "
            "less than the estimate's uncertainty; a roomier alternative is safer."
        )
    if plan.fits:
        return f"FITS: {fmt_bytes(capacity - total)} to spare per GPU."
    return (
        f"DOES NOT FIT: needs {fmt_bytes(total)} per GPU, {fmt_bytes(total - capacity)} more than the "
        f"{fmt_bytes(capacity)} each GPU has."
    )


def render_recommendation(rec: Recommendation) -> str:
    return f"{rec.method:<7}{rec.strategy:<15}{rec.gpus:>4} GPU(s) {fmt_bytes(rec.per_gpu_total_bytes):>11}   {rec.why}"


def render_recommendations(plan: Plan) -> str:
    capacity = fmt_bytes(plan.scenario.gpus.bytes_each)
    if not plan.recommendations:
        return f"Nothing fits on up to 256 GPUs of {capacity}: a shorter sequence or larger GPUs are needed."
    lines = [f"Alternatives that fit on {capacity} GPUs, best first:"]
    for index, rec in enumerate(plan.recommendations, 1):
        lines.append(f"  {index}. {render_recommendation(rec)}")
    return "\n".join(lines)


def render(plan: Plan, assumptions: bool = True) -> str:
    """The whole human report."""
    parts = [render_table(plan), "", verdict(plan), "", render_recommendations(plan)]
    if assumptions:
        parts += ["", "Assumptions:"] + [f"  - {line}" for line in ASSUMPTIONS]
    return "\n".join(parts)
