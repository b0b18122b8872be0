"""Markers by test module (registered in pyproject.toml), and the seed every test starts from.

    pytest                       everything (make test)
    pytest -m "not slow"         the fast subset: units and the quick integration tests (make test-fast)
    pytest -m distributed        the multi-process tests

``unit``: one function, layer or file format against its reference; ``integration``: commands and runs end to
end (train, resume, predict, the presets); ``distributed``: several processes; ``slow``: the integration and
distributed modules that train many runs.
"""

import pytest
import torch

INTEGRATION = {
    "test_cli",
    "test_config_cli",
    "test_csl",
    "test_explain",
    "test_faults_checkpoints",
    "test_faults_flags",
    "test_faults_graphs",
    "test_faults_rundir",
    "test_faults_steps",
    "test_files",
    "test_inference",
    "test_molecules",
    "test_planetoid",
    "test_plot",
    "test_predict",
    "test_presets",
    "test_resume",
    "test_run_metadata",
    "test_runs",
    "test_sampling",
    "test_sbm",
    "test_tensorboard",
    "test_tsp",
    "test_tu",
}
DISTRIBUTED = {"test_distributed", "test_distributed_sync"}
SLOW = DISTRIBUTED | {
    "test_cli",
    "test_faults_checkpoints",
    "test_faults_graphs",
    "test_faults_rundir",
    "test_faults_steps",
    "test_presets",
    "test_resume",
    "test_run_metadata",
    "test_sbm",
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        module = item.path.stem
        kind = "distributed" if module in DISTRIBUTED else "integration" if module in INTEGRATION else "unit"
        item.add_marker(kind)
        if module in SLOW:
            item.add_marker("slow")


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.fixture
def one_thread():
    """torch on one thread for the test (runs end to end: 2 cores are shared by everything the machine runs)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
