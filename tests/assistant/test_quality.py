"""The assistant's quality on the question set written before its knowledge base (issue #21, SUP-1):
tests/assistant/questions.json, by someone else, from the seed documents alone. The same evaluation as
bench/assistant.py (assistant.evaluation); the ranker is deterministic, so the figures are exact.

The targets of issue #21 are top-1 ≥ 90 % and ≥ 90 % of out-of-scope questions declined. The assistant does
not reach them yet (docs/benchmarks.md has the figures); FLOOR holds what it reaches today, so that a change
making it worse fails here, and is raised with every improvement."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from campuscard.assistant import evaluation, services

QUESTIONS = json.loads((Path(__file__).parent / "questions.json").read_text(encoding="utf-8"))
FLOOR = {"top1": 0.74, "out_of_scope_declined": 0.86}
# The 50 ms target is bench/assistant.py's; the test machine runs other suites beside this one.
P95_MS_HERE = 150.0


def test_the_question_set_is_what_the_issue_asks_for():
    in_scope, out = QUESTIONS["in_scope"], QUESTIONS["out_of_scope"]
    assert len(in_scope) >= 60 and len(out) >= 20
    zh = sum(1 for q in in_scope if q["lang"] == "zh")
    assert abs(zh - (len(in_scope) - zh)) <= len(in_scope) * 0.2


@pytest.mark.django_db
def test_top1_and_declines_over_the_question_set(institution):
    services.knowledge_base_seed(institution=institution)
    report = evaluation.evaluate(institution=institution, questions=QUESTIONS, log=False)
    misses = "\n".join(f"{m['want']} <- {m['got']} ({m['confident']}): {m['q']}" for m in report.misses)
    assert report.top1 >= FLOOR["top1"], misses
    assert report.out_of_scope_declined >= FLOOR["out_of_scope_declined"], misses
    assert report.p95_ms <= P95_MS_HERE
