"""The fault registry: targeting, counting down, clearing."""

from __future__ import annotations

import pytest

from fakes.imgur.faults import KINDS, Faults, UnknownFault


def test_kinds_cover_every_failure_the_emulator_promises():
    assert {
        "latency", "error_500", "html_503", "over_capacity_403", "html_404", "truncated_json",
        "invalid_json", "empty_body", "connection_reset", "missing_rate_headers",
        "user_reset_epoch", "user_reset_relative",
    } <= KINDS  # fmt: skip


def test_fault_applies_times_then_disappears():
    faults = Faults()
    faults.add("html_404", path_prefix="/3/image", times=2)
    assert [f.kind for f in faults.take("GET", "/3/image/x")] == ["html_404"]
    assert faults.take("GET", "/3/gallery") == []
    assert [f.kind for f in faults.take("GET", "/3/image/y")] == ["html_404"]
    assert faults.take("GET", "/3/image/z") == []
    assert faults.active() == []


def test_fault_without_times_lasts_until_cleared():
    faults = Faults()
    fault = faults.add("empty_body")
    for _ in range(5):
        assert faults.take("POST", "/3/upload")
    assert faults.clear(fault.id) == 1
    assert faults.take("POST", "/3/upload") == []


def test_method_filter_and_admin_paths_are_never_faulted():
    faults = Faults()
    faults.add("error_500", method="POST")
    assert faults.take("GET", "/3/image") == []
    assert faults.take("POST", "/_emulator/faults") == []
    assert faults.take("POST", "/3/image")


def test_one_replacing_fault_per_request_but_modifiers_stack():
    faults = Faults()
    first = faults.add("html_503", times=1)
    second = faults.add("error_500", times=1)
    faults.add("latency", times=1, seconds=0.01)
    taken = faults.take("GET", "/3/tags")
    assert [f.kind for f in taken] == ["html_503", "latency"]
    assert [f.id for f in faults.active()] == [second.id]
    assert first.applied == 1


def test_injected_context_manager_clears_on_exit():
    faults = Faults()
    with faults.injected("invalid_json", path_prefix="/3/") as fault:
        assert faults.active() == [fault]
    assert faults.active() == []


def test_unknown_kind_and_bad_times_are_refused():
    faults = Faults()
    with pytest.raises(UnknownFault):
        faults.add("gremlins")
    with pytest.raises(ValueError):
        faults.add("html_404", times=0)
