"""Parameter objects: the pluggable parts of an estimator (sampler, ``q_0``, energy, ``log Z``).

A component holds parameters only, the way a scikit-learn Gaussian-process kernel does: it
follows the ``get_params`` / ``set_params`` contract, so ``clone`` copies it with the estimator,
``GridSearchCV`` reaches its fields as ``sampler__n_steps`` and a grid can list whole objects
(``{"sampler": [HMC(), Langevin()]}``). The estimator turns it into torch modules in ``fit``
and never modifies it. Components are validated the way estimators are: each class has a
``_parameter_constraints`` table, and an invalid value is reported with its full path
(``sampler__n_steps``), the allowed values and the value given.
"""

import inspect
import math
from numbers import Integral, Real

from sklearn.utils._param_validation import validate_parameter_constraints

#: Every component class by name, for saved files (which store the name and the parameters).
COMPONENT_REGISTRY = {}


class Component:
    """Base class of parameter objects (see the module docstring).

    Subclasses list their parameters as keyword arguments of ``__init__``, store each one
    unchanged under its own name, and declare ``_parameter_constraints``.
    """

    _parameter_constraints: dict = {}

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        COMPONENT_REGISTRY[cls.__name__] = cls

    @classmethod
    def _get_param_names(cls):
        signature = inspect.signature(cls.__init__)
        return sorted(
            name
            for name, parameter in signature.parameters.items()
            if name != "self" and parameter.kind != parameter.VAR_KEYWORD
        )

    @classmethod
    def _defaults(cls):
        signature = inspect.signature(cls.__init__)
        return {
            name: parameter.default
            for name, parameter in signature.parameters.items()
            if name != "self"
        }

    def get_params(self, deep=True):
        """Parameters of this component.

        Parameters
        ----------
        deep : bool, default=True
            Also return the parameters of nested components (``name__field``).

        Returns
        -------
        params : dict
        """
        params = {}
        for name in self._get_param_names():
            value = getattr(self, name)
            if deep and hasattr(value, "get_params") and not isinstance(value, type):
                params.update({f"{name}__{k}": v for k, v in value.get_params().items()})
            params[name] = value
        return params

    def set_params(self, **params):
        """Set parameters (``name`` or ``name__field`` for a nested component).

        Returns
        -------
        self : Component
        """
        valid = self._get_param_names()
        nested = {}
        for key, value in params.items():
            name, _, field = key.partition("__")
            if name not in valid:
                raise ValueError(
                    f"Invalid parameter {name!r} for {type(self).__name__}; valid parameters "
                    f"are {valid}."
                )
            if field:
                nested.setdefault(name, {})[field] = value
            else:
                setattr(self, name, value)
        for name, fields in nested.items():
            getattr(self, name).set_params(**fields)
        return self

    def __repr__(self):
        defaults = self._defaults()
        shown = [
            f"{name}={getattr(self, name)!r}"
            for name in self._get_param_names()
            if not _same(getattr(self, name), defaults.get(name, inspect.Parameter.empty))
        ]
        return f"{type(self).__name__}({', '.join(shown)})"

    def __eq__(self, other):
        return type(self) is type(other) and self.get_params(deep=False) == other.get_params(
            deep=False
        )

    __hash__ = None

    def non_default_params(self):
        """Names of the parameters that differ from their defaults."""
        defaults = self._defaults()
        return [
            name
            for name in self._get_param_names()
            if not _same(getattr(self, name), defaults[name])
        ]

    def validate(self, path, caller):
        """Check every parameter against the constraint table and the class's own rules.

        Parameters
        ----------
        path : str
            Name of the estimator parameter holding this component (``"sampler"``), used in
            error messages as ``path__field``.
        caller : str
            Name of the estimator, used in error messages.

        Raises
        ------
        sklearn.utils._param_validation.InvalidParameterError
            A ``ValueError`` naming the parameter's full path, its allowed values and the
            value given.
        """
        params = {f"{path}__{name}": getattr(self, name) for name in self._get_param_names()}
        constraints = {
            f"{path}__{name}": rule for name, rule in self._parameter_constraints.items()
        }
        validate_parameter_constraints(constraints, params, caller_name=caller)
        for key, value in params.items():
            # scikit-learn's intervals without an upper bound accept infinity.
            if isinstance(value, Real) and not isinstance(value, bool) and math.isinf(value):
                raise ValueError(
                    f"The {key!r} parameter of {caller} must be finite; got {value!r}."
                )
        self._check(path, caller)

    def _check(self, path, caller):
        """Rules across fields that a constraint table cannot express (none by default)."""


def check_layer_sizes(sizes, name):
    """``sizes`` (an int or a sequence of ints) as a tuple of positive ints, or a ValueError
    naming ``name`` and the value given."""
    as_tuple = (sizes,) if isinstance(sizes, Integral) else tuple(sizes)
    if len(as_tuple) == 0 or not all(isinstance(s, Integral) and s > 0 for s in as_tuple):
        raise ValueError(f"{name} must be a non-empty sequence of positive ints; got {sizes!r}.")
    return tuple(int(s) for s in as_tuple)


def _same(value, default):
    try:
        return bool(value == default) and type(value) is type(default)
    except (TypeError, ValueError):
        return value is default


def resolve_component(value, path, shortcuts, caller):
    """The component an estimator parameter names, validated (a new object: ``value`` is
    never modified).

    Parameters
    ----------
    value : str or Component
        A shortcut name from ``shortcuts`` or an instance of one of its classes.
    path : str
        The estimator parameter's name, for error messages.
    shortcuts : dict of str to type
        Allowed shortcut names and the component classes they stand for.
    caller : str
        The estimator's name, for error messages.

    Returns
    -------
    Component
    """
    classes = tuple(dict.fromkeys(shortcuts.values()))
    if isinstance(value, str) and value in shortcuts:
        component = shortcuts[value]()
    elif isinstance(value, classes):
        component = type(value)(**value.get_params(deep=False))
    else:
        names = ", ".join(repr(name) for name in shortcuts)
        kinds = ", ".join(f"{cls.__module__.split('._')[0]}.{cls.__name__}" for cls in classes)
        raise ValueError(
            f"The {path!r} parameter of {caller} must be one of {names} or an instance of "
            f"{kinds}; got {value!r}."
        )
    component.validate(path, caller)
    return component


def refuse_unused_fields(component, path, used, caller, reason):
    """Raise when ``component`` sets a field (away from its default) that ``caller`` does not
    use, so that no setting is silently ignored.

    Parameters
    ----------
    component : Component
    path : str
        The estimator parameter's name.
    used : collection of str
        Fields the estimator reads.
    caller : str
        The estimator's name.
    reason : str
        Why those fields are unused, appended to the message.
    """
    unused = [name for name in component.non_default_params() if name not in used]
    if unused:
        fields = ", ".join(f"{path}__{name}" for name in unused)
        given = ", ".join(f"{name}={getattr(component, name)!r}" for name in unused)
        raise ValueError(
            f"{caller} does not use {fields} (got {given} on {component!r}): {reason} Leave "
            f"{'it' if len(unused) == 1 else 'them'} at the default."
        )
