"""The exec API's closing status frame, as a real API server and the lab's emulator send it."""

from __future__ import annotations

import json

import pytest

from harborbook.nodeshell.debugpod import exit_status
from harborlab.kube.exec import status_frame


@pytest.mark.parametrize("rc", [0, 1, 3, 127])
def test_exit_codes_round_trip_through_the_frame(rc):
    assert exit_status(json.dumps(status_frame(rc))) == rc


def test_a_command_that_could_not_start_is_a_reason_not_a_code():
    frame = json.dumps({"metadata": {}, "status": "Failure", "reason": "InternalError",
                        "message": 'exec: "nsenter": executable file not found in $PATH', "code": 500,
                        "details": {"causes": [{"message": 'exec: "nsenter": executable file not found'}]}})
    assert exit_status(frame) == 'exec: "nsenter": executable file not found in $PATH'
    assert "cannot run" in exit_status(json.dumps(status_frame(None, "the agent cannot run it")))


@pytest.mark.parametrize("frame", ["not json", "[]", '{"status": "Failure", "details": {"causes": '
                                   '[{"reason": "ExitCode", "message": "x"}]}}'])
def test_garbage_is_reported_not_raised(frame):
    assert isinstance(exit_status(frame), str)
