"""bench.appproc starts the worker process beside gunicorn exactly when the app would run one."""
import pytest

from bench.appproc import gunicorn_command, separate_worker


@pytest.mark.parametrize("env, expected", [
    ({}, True), ({"WORKER_MODE": "process", "REPLY_MODE": "rest"}, True), ({"WORKER_MODE": "thread"}, False),
    ({"REPLY_MODE": "twiml"}, False), ({"WORKER_MODE": " Process "}, True),
])
def test_a_worker_process_runs_only_in_process_mode_with_rest_replies(env, expected):
    assert separate_worker(env) is expected


def test_gunicorn_takes_the_number_of_web_processes():
    command = gunicorn_command(5000, threads=8, workers=3)
    assert command[command.index("-w") + 1] == "3" and command[command.index("--threads") + 1] == "8"
    assert command[-1] == "app:create_app()"
