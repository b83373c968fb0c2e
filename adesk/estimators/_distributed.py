"""Data-parallel training on ``torch.distributed`` process groups (``distributed="ddp"``).

Every process holds the whole training set and the same model. Each iteration draws the
*global* minibatch indices from a generator shared by all ranks (seeded identically), and each
rank trains on its slice, with its own generator for everything else (chains, noise). Before
every optimizer step the gradients of that optimizer's parameters (the energy's and the
sampler's) are averaged over the ranks, so all ranks take the same step; the logged values are
averaged too, so divergence checks, early stopping and rollbacks decide the same thing
everywhere. With a deterministic sampler (e.g. exact score matching) a run on ``k`` ranks gives
the single-process run on the same global batch, up to float summation order.
"""

import numpy as np
import torch


def process_group():
    """``(rank, world_size)`` of the default process group; a clear error when there is none."""
    import torch.distributed as dist

    if not dist.is_available() or not dist.is_initialized():
        raise ValueError(
            "distributed='ddp' needs an initialised torch.distributed process group: launch "
            "with torchrun (e.g. `torchrun --nproc_per_node=2 -m adesk.train --config cfg.json`) "
            "or call torch.distributed.init_process_group first; got no process group."
        )
    return dist.get_rank(), dist.get_world_size()


def agreed_seed(seed, device):
    """Rank 0's ``seed``, broadcast, so that every rank derives the same streams (a ``None``
    or ``RandomState`` ``random_state`` draws a different seed on each rank)."""
    import torch.distributed as dist

    seed = torch.tensor([int(seed)], dtype=torch.int64)
    # gloo broadcasts CPU tensors, NCCL CUDA tensors.
    backend_device = device if dist.get_backend() == "nccl" else torch.device("cpu")
    seed = seed.to(backend_device)
    dist.broadcast(seed, src=0)
    return int(seed.item())


def distributed_generators(seed, device, rank):
    """The shared generator (minibatch indices, module initialisation) and this rank's own.

    ``seed`` is the fit's seed, agreed by the ranks (:func:`agreed_seed`). The shared generator
    is the one a single-process fit uses (same minibatches, same start); the rank's own is
    seeded from ``SeedSequence([seed, rank])``, so that ranks draw independent chains and noise.
    """
    shared = torch.Generator(device=device).manual_seed(seed)
    own_seed = int(np.random.SeedSequence([seed, rank]).generate_state(1, dtype=np.uint64)[0])
    own = torch.Generator(device=device).manual_seed(own_seed % 2**63)
    return shared, own


def local_batch_size(batch_size, world_size):
    """Each rank's share of the global ``batch_size`` (which must divide evenly)."""
    if batch_size % world_size:
        raise ValueError(
            f"batch_size must be a multiple of the number of processes with "
            f"distributed='ddp'; got batch_size={batch_size} with {world_size} processes."
        )
    return batch_size // world_size


def average_gradients_before_step(optimizer):
    """Register a hook that averages the gradients of ``optimizer``'s parameters over the
    ranks right before each ``step()``; returns the hook handle (remove it after training)."""
    import torch.distributed as dist

    def hook(optimizer, args, kwargs):
        params = [p for group in optimizer.param_groups for p in group["params"]]
        grads = [p.grad for p in params if p.grad is not None]
        if not grads:
            return
        # One collective for all of them: flatten, reduce, copy back.
        flat = torch.cat([g.reshape(-1) for g in grads])
        dist.all_reduce(flat)
        flat /= dist.get_world_size()
        offset = 0
        for grad in grads:
            grad.copy_(flat[offset : offset + grad.numel()].view_as(grad))
            offset += grad.numel()

    return optimizer.register_step_pre_hook(hook)


def average_logs(logs, device):
    """The logged floats averaged over the ranks (one collective)."""
    import torch.distributed as dist

    if not logs:
        return logs
    backend_device = device if dist.get_backend() == "nccl" else torch.device("cpu")
    values = torch.tensor(list(logs.values()), dtype=torch.float64, device=backend_device)
    dist.all_reduce(values)
    values /= dist.get_world_size()
    return dict(zip(logs, values.tolist()))


def broadcast_modules(modules, device):
    """Copy rank 0's parameters and buffers into every rank's modules (same starting point)."""
    import torch.distributed as dist

    use_cpu = dist.get_backend() != "nccl"
    for module in modules:
        for tensor in list(module.parameters()) + list(module.buffers()):
            if use_cpu and tensor.device.type != "cpu":
                staging = tensor.detach().cpu()
                dist.broadcast(staging, src=0)
                with torch.no_grad():
                    tensor.copy_(staging)
            else:
                with torch.no_grad():
                    dist.broadcast(tensor.data, src=0)
