"""Markers by test module (registered in pyproject.toml), and the seed every test starts from.

    pytest                       everything (make test)
    pytest -m "not slow"         the fast subset (make test-fast): the modules that take a few seconds
    pytest -m distributed        the multi-process tests

``unit``: one function, layer or file format against its reference; ``integration``: commands and runs end to
end (train, resume, predict, explain, the presets, the hostile-input corpus); ``distributed``: several processes;
``slow``: those that train many runs, every module that took 4 s or more in a run of the whole suite (02:40 UTC,
2 cores at load 7-8; the seconds beside each), and a few of 2-3 s, until the fast subset's CPU time was under
60 s (docs: README, The tests).  A new module is fast until it is measured otherwise.
"""

import contextlib

import pytest
import torch

INTEGRATION = {
    "test_cli",
    "test_config_cli",
    "test_csl",
    "test_explain",
    "test_explain_gps",
    "test_failed_start",
    "test_faults_checkpoints",
    "test_faults_flags",
    "test_faults_graphs",
    "test_faults_rundir",
    "test_faults_steps",
    "test_fetch_molecules",
    "test_files",
    "test_inference",
    "test_molecules",
    "test_node_frame",
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
    "test_train_counts",
    "test_tsp",
    "test_tu",
}
INTEGRATION_FOLDERS = {"hostile"}  # each case runs a command in a sandbox
DISTRIBUTED = {"test_distributed", "test_distributed_sync"}
SLOW = DISTRIBUTED | {
    # many runs each
    "test_cli",
    "test_faults_checkpoints",
    "test_faults_graphs",
    "test_faults_rundir",
    "test_faults_steps",
    "test_presets",
    "test_resume",
    "test_run_metadata",
    "test_sbm",
    # 4 s or more (loaded seconds, see above)
    "test_ops_registered",  # 89
    "test_native",  # 48
    "test_smiles",  # 43
    "test_layers_pyg",  # 40
    "test_schedule",  # 39
    "test_inference",  # 31
    "test_tensorboard",  # 28
    "test_ops_dense",  # 24
    "test_hostile_config",  # 22
    "test_explain",  # 19
    "test_failed_start",  # 18
    "test_tu",  # 17
    "test_molecules",  # 16
    "test_predict",  # 14
    "test_interop",  # 12
    "test_explain_gps",  # 12
    "test_graph_property",  # 12
    "test_model",  # 12
    "test_ops_fuzz",  # 10
    "test_fast_path",  # 9
    "test_plot",  # 9
    "test_fetch_molecules",  # 8
    "test_hostile_files",  # 8
    "test_planetoid",  # 7
    "test_hostile_runs",  # 6
    "test_encodings",  # 6
    "test_csl",  # 4
    "test_hostile_planetoid",  # 4
    "test_sampling",  # 4
    "test_last_edge_state",  # 21 (measured alone)
    "test_bench",  # 4 (9 alone)
    "test_tsp",  # 3
    "test_hostile_tu",  # 3
    "test_hostile_smiles",  # 2
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        module = item.path.stem
        integration = module in INTEGRATION or item.path.parent.name in INTEGRATION_FOLDERS
        kind = "distributed" if module in DISTRIBUTED else "integration" if integration else "unit"
        item.add_marker(kind)
        if module in SLOW:
            item.add_marker("slow")


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@contextlib.contextmanager
def torch_threads(n: int):
    """Within: torch on ``n`` threads; its count before, after."""
    threads = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


@pytest.fixture
def one_thread():
    """torch on one thread for the test (runs end to end: 2 cores are shared by everything the machine runs)."""
    with torch_threads(1):
        yield


@pytest.fixture
def two_threads():
    """torch on two threads for the test (what a trainer may lower per step)."""
    with torch_threads(2):
        yield
