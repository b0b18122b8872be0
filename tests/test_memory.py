"""The pool of reused blocks behind the fused kernels' large outputs (gatedgcn.ops._memory)."""

from __future__ import annotations

import pytest
import torch

from gatedgcn.ops import _memory as memory

LIKE = torch.empty(0)
ROWS, COLS = 2048, 1024  # 8 MiB of float32: twice the pool's threshold


@pytest.fixture(autouse=True)
def _empty_pool(monkeypatch):
    monkeypatch.delenv("GATEDGCN_POOL", raising=False)
    memory.release()
    yield
    memory.release()


def test_a_block_is_not_handed_out_while_a_view_of_it_lives():
    a = memory.empty((ROWS, COLS), LIKE).fill_(1.0)
    view = a[10:20]
    del a
    b = memory.empty((ROWS, COLS), LIKE).fill_(2.0)
    assert torch.equal(view, torch.ones(10, COLS))
    assert b.data_ptr() != view.data_ptr() - 10 * COLS * 4


def test_a_numpy_array_or_an_autograd_saved_tensor_keeps_its_block():
    a = memory.empty((ROWS, COLS), LIKE).fill_(3.0)
    array = a.numpy()
    w = torch.ones(COLS, requires_grad=True)
    saved = memory.empty((ROWS, COLS), LIKE).fill_(0.5)
    loss = (saved * w).sum()  # saves `saved` for the gradient of w
    del a, saved
    others = [memory.empty((ROWS, COLS), LIKE).fill_(-1.0) for _ in range(2)]
    loss.backward()
    assert (array == 3.0).all()
    assert torch.equal(w.grad, torch.full((COLS,), 0.5 * ROWS))
    assert all(torch.equal(o, torch.full((ROWS, COLS), -1.0)) for o in others)


def test_a_free_block_is_reused_for_its_size_and_somewhat_smaller_not_larger_or_much_smaller():
    ptr = memory.empty((ROWS, COLS), LIKE).data_ptr()
    assert memory.empty((ROWS, COLS), LIKE).data_ptr() == ptr
    assert memory.empty((ROWS * 9 // 10, COLS), LIKE).data_ptr() == ptr
    assert memory.empty((ROWS + 1, COLS), LIKE).data_ptr() != ptr
    assert memory.empty((ROWS // 2, COLS), LIKE).data_ptr() != ptr


def test_zeros_are_zero_on_a_reused_block_and_blocks_start_on_a_huge_page():
    memory.empty((ROWS, COLS), LIKE).fill_(7.0)
    z = memory.zeros((ROWS, COLS), LIKE)
    assert z.data_ptr() % (2 << 20) == 0  # each block starts on a 2 MiB page
    assert torch.equal(z, torch.zeros(ROWS, COLS))
    d = memory.zeros((ROWS, COLS // 2), torch.empty(0, dtype=torch.float64))
    assert d.dtype == torch.float64 and torch.equal(d, torch.zeros(ROWS, COLS // 2, dtype=torch.float64))


def test_a_block_smaller_than_a_huge_page_is_reused_for_its_own_size():
    ptr = memory.empty((256, 1024), LIKE).data_ptr()  # 1 MiB: its block holds a whole 2 MiB page
    assert memory.empty((256, 1024), LIKE).data_ptr() == ptr


def test_free_blocks_are_given_back_after_keep_free_requests_or_on_release():
    kept = memory.empty((ROWS, COLS), LIKE)
    memory.empty((2 * ROWS, COLS), LIKE)  # freed at once
    used, free = memory.pooled_bytes()
    assert used >= ROWS * COLS * 4 and free >= 2 * ROWS * COLS * 4
    for _ in range(memory.KEEP_FREE + 1):
        del kept
        kept = memory.empty((ROWS, COLS), LIKE)  # reuses its own block; the larger one waits
    assert memory.pooled_bytes()[1] < 2 * ROWS * COLS * 4
    del kept
    assert memory.pooled_bytes()[1] > 0
    memory.release()
    assert memory.pooled_bytes() == (0, 0)


def test_release_keeps_blocks_in_use():
    a = memory.empty((ROWS, COLS), LIKE).fill_(5.0)
    memory.release()
    assert memory.pooled_bytes()[0] >= a.numel() * 4
    assert torch.equal(a, torch.full((ROWS, COLS), 5.0))


def test_small_tensors_other_dtypes_and_the_off_switch_bypass_the_pool(monkeypatch):
    memory.empty((8, 8), LIKE)
    memory.empty((ROWS, COLS), torch.empty(0, dtype=torch.bfloat16))
    assert memory.pooled_bytes() == (0, 0)
    monkeypatch.setenv("GATEDGCN_POOL", "0")
    a = memory.zeros((ROWS, COLS), LIKE)
    assert memory.pooled_bytes() == (0, 0) and torch.equal(a, torch.zeros(ROWS, COLS))
