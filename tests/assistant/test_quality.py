"""The assistant's quality on two question sets (issue #21, SUP-1), by the same evaluation as
bench/assistant.py (assistant.evaluation); the ranker is deterministic, so the figures are exact.

- ``questions.json``: written before the knowledge base, by someone else, from the seed documents alone. The
  normalisation table, the redirects and the confidence rule were then tuned on it: its figures are optimistic.
- ``questions_heldout.json``: written from the seeds and SPEC.md before that tuning and never tuned on — the
  honest estimate of questions nobody has seen.

The targets of issue #21 are top-1 ≥ 90 % and ≥ 90 % of out-of-scope questions declined. FLOOR holds what each
set reaches today less a small margin (docs/benchmarks.md has the figures), so that a change making the
assistant worse fails here; raise it with every improvement, and never tune on the held-out set."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from campuscard.assistant import evaluation, services

HERE = Path(__file__).parent
FLOOR = {
    "questions.json": {"top1": 0.93, "out_of_scope_declined": 0.9},  # 94.8 % / 93.3 % today
    "questions_heldout.json": {"top1": 0.91, "out_of_scope_declined": 0.76},  # 92.7 % / 78.6 % today
}
# The 50 ms target is bench/assistant.py's; the test machine runs other suites beside this one.
P95_MS_HERE = 150.0


def _load(name: str) -> dict:
    return json.loads((HERE / name).read_text(encoding="utf-8"))


@pytest.mark.parametrize(("name", "in_scope_min", "out_min"), [("questions.json", 60, 20),
                                                                ("questions_heldout.json", 120, 40)])
def test_the_question_sets_are_what_the_issue_asks_for(name, in_scope_min, out_min):
    questions = _load(name)
    in_scope, out = questions["in_scope"], questions["out_of_scope"]
    assert len(in_scope) >= in_scope_min and len(out) >= out_min
    zh = sum(1 for q in in_scope if q["lang"] == "zh")
    assert abs(zh - (len(in_scope) - zh)) <= len(in_scope) * 0.2
    topics = {line.split("`")[1] for line in (HERE / "TOPICS.md").read_text(encoding="utf-8").splitlines()
              if line.startswith("| `")}
    assert {q["topic"] for q in in_scope} <= topics


def test_the_held_out_set_shares_no_question_with_the_tuning_set():
    def seen(name):
        return {q["q"].strip().lower() for part in ("in_scope", "out_of_scope") for q in _load(name)[part]}
    assert not seen("questions.json") & seen("questions_heldout.json")


@pytest.mark.django_db
@pytest.mark.parametrize("name", list(FLOOR))
def test_top1_and_declines_over_the_question_set(institution, name):
    services.knowledge_base_seed(institution=institution)
    report = evaluation.evaluate(institution=institution, questions=_load(name), log=False)
    misses = "\n".join(f"{m['want']} <- {m['got']} ({m['confident']}): {m['q']}" for m in report.misses)
    assert report.top1 >= FLOOR[name]["top1"], misses
    assert report.out_of_scope_declined >= FLOOR[name]["out_of_scope_declined"], misses
    assert report.p95_ms <= P95_MS_HERE
