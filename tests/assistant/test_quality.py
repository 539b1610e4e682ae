"""The assistant's quality (issue #21, SUP-1), by the same evaluation as bench/assistant.py
(assistant.evaluation); the ranker is deterministic, so the figures are exact.

- ``questions_unseen.json`` (here): written from the seeds, SPEC.md and TOPICS.md alone by someone who had seen
  neither the entries nor the other sets, and never tuned on — the honest estimate of questions nobody has seen.
- ``src/campuscard/assistant/examples/*.json``: the three earlier sets, written the same way. Their in-scope
  questions are the entries' starting "ways holders ask", and the thresholds were chosen on them (each set
  measured with the other two as examples: docs/benchmarks.md), so measured with all three seeded they only
  guard against regressions.

The targets of issue #21 are top-1 ≥ 90 % and ≥ 90 % of out-of-scope questions declined. FLOOR holds what each
set reaches today less a small margin, so that a change making the assistant worse fails here; never tune on
the unseen set."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from campuscard.assistant import evaluation, services
from campuscard.assistant.knowledge import EXAMPLE_SETS

HERE = Path(__file__).parent
UNSEEN = HERE / "questions_unseen.json"
SETS = {path.name: path for path in [*EXAMPLE_SETS, UNSEEN]}
FLOOR = {
    "questions_unseen.json": {"top1": 0.88, "out_of_scope_declined": 0.86},  # 90.0 % / 88.0 % today
    "first.json": {"top1": 0.96, "out_of_scope_declined": 0.86},  # 98.5 % / 90.0 %
    "second.json": {"top1": 0.97, "out_of_scope_declined": 0.95},  # 99.3 % / 97.6 %
    "third.json": {"top1": 0.97, "out_of_scope_declined": 0.86},  # 99.3 % / 88.0 %
}
# The 50 ms target is bench/assistant.py's; the test machine runs other suites beside this one.
P95_MS_HERE = 150.0


def _load(name: str) -> dict:
    return json.loads(SETS[name].read_text(encoding="utf-8"))


def test_every_set_is_measured_and_the_examples_are_where_the_entries_read_them():
    assert set(FLOOR) == set(SETS) and len(EXAMPLE_SETS) == 3


@pytest.mark.parametrize("name", list(FLOOR))
def test_the_question_sets_are_what_the_issue_asks_for(name):
    questions = _load(name)
    in_scope, out = questions["in_scope"], questions["out_of_scope"]
    assert len(in_scope) >= 60 and len(out) >= 20
    zh = sum(1 for q in in_scope if q["lang"] == "zh")
    assert abs(zh - (len(in_scope) - zh)) <= len(in_scope) * 0.2
    topics = {line.split("`")[1] for line in (HERE / "TOPICS.md").read_text(encoding="utf-8").splitlines()
              if line.startswith("| `")}
    assert {q["topic"] for q in in_scope} <= topics


def test_the_unseen_set_shares_no_question_with_the_examples():
    def seen(names):
        return {q["q"].strip().lower() for name in names for part in ("in_scope", "out_of_scope")
                for q in _load(name)[part]}
    assert not seen(["questions_unseen.json"]) & seen([path.name for path in EXAMPLE_SETS])


@pytest.mark.django_db
@pytest.mark.parametrize("name", list(FLOOR))
def test_top1_and_declines_over_the_question_set(institution, name):
    services.knowledge_base_seed(institution=institution)
    report = evaluation.evaluate(institution=institution, questions=_load(name), log=False)
    misses = "\n".join(f"{m['want']} <- {m['got']} ({m['confident']}): {m['q']}" for m in report.misses)
    assert report.top1 >= FLOOR[name]["top1"], misses
    assert report.out_of_scope_declined >= FLOOR[name]["out_of_scope_declined"], misses
    assert report.p95_ms <= P95_MS_HERE
