"""Measuring the assistant on a question set (SUP-1): the benchmark and the quality test both call this.

A question set is ``{"in_scope": [{"q", "topic"}, …], "out_of_scope": [{"q"}, …]}``; ``topic`` is the slug of
the entry that should answer. An in-scope question counts as right when the assistant answers confidently
with that entry first (``top1``); ``ranked_first`` counts the entry being first whether or not it was
confident. An out-of-scope question counts as declined when the assistant is not confident — a redirect (an
entry saying which other office handles it, issue #21 item 1) is given as not confident, so it counts, and
``redirected`` says how many of the declines were one.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from campuscard.assistant import services
from campuscard.core.models import Institution


@dataclass
class Report:
    in_scope: int = 0
    top1: float = 0.0
    ranked_first: float = 0.0
    out_of_scope: int = 0
    out_of_scope_declined: float = 0.0
    redirected: int = 0
    p50_ms: float = 0.0
    p95_ms: float = 0.0
    misses: list[dict] = field(default_factory=list)
    by_language: dict = field(default_factory=dict)


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))] if ordered else 0.0


def evaluate(*, institution: Institution, questions: dict, log: bool = True) -> Report:
    services.index_for(institution_id=institution.pk)  # the index is built once per process, not on the first question
    timings: list[float] = []
    report = Report()
    right = first = 0
    per_lang: dict[str, list[int]] = {}
    for item in questions["in_scope"]:
        started = time.perf_counter()
        answer = services.ask(institution=institution, question=item["q"], channel="evaluation", log=log)
        timings.append((time.perf_counter() - started) * 1000)
        index, entries = services.index_for(institution_id=institution.pk)
        hits, _ = index.rank(item["q"], k=1)
        top = entries[hits[0].index].slug if hits else None
        ok = answer.confident and not answer.redirect and answer.entry is not None and answer.entry.slug == item["topic"]
        right += ok
        first += top == item["topic"]
        stats = per_lang.setdefault(item.get("lang", "?"), [0, 0])
        stats[0] += ok
        stats[1] += 1
        if not ok:
            report.misses.append({"q": item["q"], "want": item["topic"], "got": top, "confident": answer.confident})
    declined = 0
    for item in questions["out_of_scope"]:
        started = time.perf_counter()
        answer = services.ask(institution=institution, question=item["q"], channel="evaluation", log=log)
        timings.append((time.perf_counter() - started) * 1000)
        declined += not answer.confident
        report.redirected += answer.redirect
        if answer.confident:
            report.misses.append({"q": item["q"], "want": None, "got": answer.entry.slug if answer.entry else None,
                                  "confident": True})
    report.in_scope = len(questions["in_scope"])
    report.out_of_scope = len(questions["out_of_scope"])
    report.top1 = right / report.in_scope if report.in_scope else 0.0
    report.ranked_first = first / report.in_scope if report.in_scope else 0.0
    report.out_of_scope_declined = declined / report.out_of_scope if report.out_of_scope else 0.0
    report.p50_ms = _percentile(timings, 0.50)
    report.p95_ms = _percentile(timings, 0.95)
    report.by_language = {lang: round(ok / n, 3) for lang, (ok, n) in per_lang.items()}
    return report
