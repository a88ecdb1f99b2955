"""Review metrics for trust-and-safety staff: how much is escalated, how fast it is resolved, and how often the guards
were right, overall, per policy and per trigger.

Verdicts read as a confusion matrix: `correct_block` = true positive, `false_positive`, `missed_harm` = false
negative, `fine` = true negative. The rates cover reviewed exchanges only (what reached the queue), so they describe
the guards on escalated traffic, not on all traffic.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping
from typing import Any

VERDICTS = ("correct_block", "false_positive", "missed_harm", "fine")


def _ratio(numerator: int, denominator: int) -> float | None:
    return round(numerator / denominator, 4) if denominator else None


def summarise(rows: Iterable[Mapping[str, Any]], requests: int | None) -> dict[str, Any]:
    rows = list(rows)
    verdicts = {v: sum(1 for r in rows if r["verdict"] == v) for v in VERDICTS}
    durations = sorted(float(r["resolved_at"]) - float(r["created_at"]) for r in rows if r["resolved_at"] is not None)
    tp, fp, fn, tn = (verdicts[v] for v in VERDICTS)
    return {
        "requests": requests,
        "escalated": len(rows),
        "escalation_rate": _ratio(len(rows), requests) if requests is not None else None,
        "status": {s: sum(1 for r in rows if r["status"] == s) for s in ("open", "claimed", "resolved")},
        "verdicts": verdicts,
        "time_to_resolution_s": {
            "n": len(durations),
            "mean": round(statistics.fmean(durations), 3) if durations else None,
            "p50": round(statistics.median(durations), 3) if durations else None,
            "p90": round(durations[min(len(durations) - 1, int(0.9 * len(durations)))], 3) if durations else None,
        },
        "false_positive_rate": _ratio(fp, fp + tn),
        "false_negative_rate": _ratio(fn, fn + tp),
        "precision": _ratio(tp, tp + fp),
    }


def review_metrics(
    request_counts: Iterable[Mapping[str, Any]], reviews: Iterable[Mapping[str, Any]], since: float, until: float
) -> dict[str, Any]:
    counts = {str(r["policy"]): int(r["requests"]) for r in request_counts}
    rows = [dict(r) for r in reviews]
    for row in rows:
        triggers = row["triggers"]
        row["trigger_list"] = [t for t in triggers.split(",") if t] if isinstance(triggers, str) else list(triggers)
    total = sum(counts.values())
    policies = sorted(set(counts) | {str(r["policy"]) for r in rows})
    triggers = sorted({t for r in rows for t in r["trigger_list"]})
    return {
        "since": since,
        "until": until,
        "overall": summarise(rows, total),
        "per_policy": {p: summarise([r for r in rows if r["policy"] == p], counts.get(p, 0)) for p in policies},
        # A request can fire several triggers: each trigger's rate is over all requests.
        "per_trigger": {t: summarise([r for r in rows if t in r["trigger_list"]], total) for t in triggers},
    }
