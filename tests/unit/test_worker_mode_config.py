"""WORKER_MODE and WORKER_NICE: defaults, validation naming the variable, and when a worker process runs."""
import pytest

from config import ConfigError, build_config


def test_the_worker_runs_in_its_own_process_by_default(tmp_path):
    config = build_config({"DATA_DIR": str(tmp_path)})
    assert (config.worker_mode, config.worker_nice, config.separate_worker) == ("process", 5, True)


@pytest.mark.parametrize("env, separate", [
    ({"WORKER_MODE": "thread"}, False),
    ({"WORKER_MODE": "PROCESS"}, True),
    ({"WORKER_MODE": "process", "REPLY_MODE": "twiml"}, False),  # the webhook answers; leftovers stay in-process
])
def test_twiml_and_thread_modes_keep_the_worker_in_the_web_process(tmp_path, env, separate):
    assert build_config({"DATA_DIR": str(tmp_path), **env}).separate_worker is separate


@pytest.mark.parametrize("name, value", [("WORKER_MODE", "fork"), ("WORKER_NICE", "-1"), ("WORKER_NICE", "20"),
                                         ("WORKER_NICE", "low")])
def test_a_wrong_worker_setting_names_the_variable(tmp_path, name, value):
    with pytest.raises(ConfigError, match=name):
        build_config({"DATA_DIR": str(tmp_path), name: value})


def test_the_generated_secret_key_is_never_read_half_written(tmp_path):
    keys = {build_config({"DATA_DIR": str(tmp_path)}).secret_key for _ in range(3)}
    assert len(keys) == 1 and len(keys.pop()) >= 32
    assert [p.name for p in tmp_path.iterdir()] == ["secret_key"]  # no draft left behind
