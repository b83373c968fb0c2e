"""What a fit spends: energy evaluations in units of one minibatch, and wall time."""


class EnergyEvaluationCounter:
    """Count the rows an energy network is evaluated on, in units of one minibatch.

    Every evaluation of the energy during training is followed by one backward pass (the input
    gradient of a sampler step, or the parameter gradient of the loss), so one unit is one
    *floor*: a forward pass plus one gradient of the network on ``batch_size`` rows. The count
    is taken by a forward pre-hook, which reads only the input's shape (no device sync).
    A gradient penalty's double backward costs about two more floors per evaluation, which the
    count does not include.

    Parameters
    ----------
    module : torch.nn.Module
        The energy network.
    batch_size : int
        Rows per unit.

    Examples
    --------
    >>> import torch
    >>> from adesk.training import EnergyEvaluationCounter
    >>> net = torch.nn.Linear(2, 1)
    >>> counter = EnergyEvaluationCounter(net, batch_size=4)
    >>> _ = net(torch.zeros(4, 2)); _ = net(torch.zeros(2, 2))
    >>> counter.count
    1.5
    >>> counter.remove(); _ = net(torch.zeros(4, 2)); counter.count
    1.5
    """

    def __init__(self, module, batch_size):
        self.batch_size = int(batch_size)
        self.rows = 0
        self._handle = module.register_forward_pre_hook(self._count)

    def _count(self, module, args):
        if args and hasattr(args[0], "shape") and len(args[0].shape) > 0:
            self.rows += int(args[0].shape[0])

    @property
    def count(self):
        """Rows evaluated so far divided by ``batch_size``."""
        return self.rows / self.batch_size

    def remove(self):
        """Stop counting."""
        self._handle.remove()
