"""The flattened schedule: callees before their caller, each computation once."""

from __future__ import annotations

from hlo_tools import parse_hlo
from hlo_tools.schedule import DEFAULT_TRIP_COUNT, execution_counts, flatten_schedule

NESTED = """\
HloModule m, is_scheduled=true

%fused (f: f32[4]) -> f32[4] {
  %f = f32[4]{0} parameter(0)
  ROOT %fn = f32[4]{0} negate(%f)
}

%cond (c: (s32[], f32[4])) -> pred[] {
  %c = (s32[], f32[4]{0}) parameter(0)
  %ci = s32[] get-tuple-element(%c), index=0
  %limit = s32[] constant(3)
  ROOT %lt = pred[] compare(%ci, %limit), direction=LT
}

%body (b: (s32[], f32[4])) -> (s32[], f32[4]) {
  %b = (s32[], f32[4]{0}) parameter(0)
  %bi = s32[] get-tuple-element(%b), index=0
  %bv = f32[4]{0} get-tuple-element(%b), index=1
  %one = s32[] constant(1)
  %next = s32[] add(%bi, %one)
  %neg = f32[4]{0} fusion(%bv), kind=kLoop, calls=%fused
  ROOT %bt = (s32[], f32[4]{0}) tuple(%next, %neg)
}

%loop (l: (s32[], f32[4])) -> (s32[], f32[4]) {
  %l = (s32[], f32[4]{0}) parameter(0)
  ROOT %w = (s32[], f32[4]{0}) while(%l), condition=%cond, body=%body
}

ENTRY %main (x: f32[4]) -> f32[4] {
  %x = f32[4]{0} parameter(0)
  %zero = s32[] constant(0)
  %t = (s32[], f32[4]{0}) tuple(%zero, %x)
  %k = (s32[], f32[4]{0}) call(%t), to_apply=%loop
  %k2 = (s32[], f32[4]{0}) call(%t), to_apply=%loop
  ROOT %r = f32[4]{0} get-tuple-element(%k), index=1
}
"""


def test_nested_callees_come_first_and_once():
  schedule = flatten_schedule(parse_hlo(NESTED))
  assert [x.name for x in schedule.sequence] == [
      "x", "zero", "t",
      "l",                                   # the called computation starts
      "c", "ci", "limit", "lt",              # the while's condition,
      "b", "bi", "bv", "one", "next", "neg", "bt",  # then its body,
      "w", "k", "k2", "r"]                   # %loop is flattened only once
  spans = {c.name: span for c, span in schedule.spans.items()}
  assert spans == {"main": (0, 19), "loop": (3, 16), "cond": (4, 8),
                   "body": (8, 15)}
  assert "fused" not in spans


def test_execution_counts_multiply_through_nested_loops_and_split_branches():
  text = NESTED.replace(
      "condition=%cond, body=%body",
      'condition=%cond, body=%body, backend_config={"known_trip_count":{"n":"3"}}')
  counts = {c.name: n for c, n in
            execution_counts(flatten_schedule(parse_hlo(text))).items()}
  assert counts == {"main": 1.0, "loop": 1.0, "cond": 3.0, "body": 3.0}
  # Without XLA's trip count a loop runs the default number of times.
  counts = {c.name: n for c, n in
            execution_counts(flatten_schedule(parse_hlo(NESTED)), 7).items()}
  assert counts["body"] == counts["cond"] == 7.0
  assert DEFAULT_TRIP_COUNT == 5
