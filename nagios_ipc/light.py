"""Start-up savers: what a check needs of ``typing`` at run time, without importing it.

Importing ``typing`` costs a check as much as a tenth of ``import nagiosplugin``
(benchmarks/RESULTS.md), paid on every run on every host. The modules import
``typing`` only for the type checker::

    TYPE_CHECKING = False
    if TYPE_CHECKING:
        from typing import NamedTuple, Optional
    else:
        from nagios_ipc.light import NamedTuple

(mypy treats any name ``TYPE_CHECKING`` as true), and use this NamedTuple at run
time: the same class syntax as ``typing.NamedTuple`` (annotated fields, defaults,
methods, properties, docstring), built on ``collections.namedtuple``.
"""

from __future__ import annotations

from collections import namedtuple

_OWN = ("__module__", "__qualname__", "__annotations__", "__dict__", "__weakref__")


class _Meta(type):
    def __new__(mcs, name, bases, namespace):  # type: ignore[no-untyped-def]
        if not bases:  # the NamedTuple base itself
            return super().__new__(mcs, name, bases, namespace)
        fields = list(namespace.get("__annotations__", {}))
        defaults = []
        for field in fields:
            if field in namespace:
                defaults.append(namespace[field])
            elif defaults:
                raise TypeError(f"{name}: field {field} without a default follows one with")
        base = namedtuple(name, fields, defaults=defaults,  # type: ignore[misc]
                          module=namespace.get("__module__"))
        body = {key: value for key, value in namespace.items()
                if key not in fields and key not in _OWN}
        body["__slots__"] = ()
        cls = type(name, (base,), body)
        cls.__qualname__ = namespace.get("__qualname__", name)
        return cls


class NamedTuple(metaclass=_Meta):
    """Base class with the syntax of ``typing.NamedTuple``."""
