"""torch.hub entry points: ``torch.hub.load("path/to/clone", "alternet_50", source="local", pretrained=False)``.

One entry point per registered architecture, generated from the registry (a new family gets its own with no
edit here). Keyword arguments go to :func:`hub.create_model` (``num_classes``, ``preset``, the family's own);
``pretrained=True`` loads the released weights of that architecture named in ``hub/catalog.toml`` instead,
through :func:`hub.from_pretrained` (which takes ``revision``, ``local_files_only``, ...). Helpers start with
``_``: torch.hub lists every other callable here as an entry point.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hub.catalog import load_catalog as _load_catalog
from hub.errors import NotAvailableError as _NotAvailableError
from hub.pretrained import from_pretrained as _from_pretrained
from hub.registry import create_model as _create_model
from hub.registry import list_models as _list_models
from hub.registry import model_entry as _model_entry

if TYPE_CHECKING:  # typing's names are callables too: kept out of the module at run time
    from collections.abc import Callable
    from typing import Any

    from hub.units import UnitModel

dependencies = ["torch", "numpy", "safetensors", "huggingface_hub"]


def _released(architecture: str) -> str:
    """The catalog's short name for the released weights of ``architecture``; an error names what there is."""
    catalog = _load_catalog()
    names = [name for name, entry in catalog.items() if entry.architecture == architecture]
    if len(names) == 1:
        return names[0]
    if names:
        raise _NotAvailableError(f"the catalog has several weights for {architecture!r} ({', '.join(names)}): "
                                 "load one by name with hub.from_pretrained")
    released = ", ".join(f"{entry.architecture} ({name})" for name, entry in catalog.items()
                         if entry.availability != "not published")
    raise _NotAvailableError(f"no released weights for {architecture!r}; there are weights for {released}. "
                             f"pretrained=False builds {architecture} with random weights.")


def _entry_point(architecture: str) -> Callable[..., UnitModel]:
    def entry(pretrained: bool = False, **kwargs: Any) -> UnitModel:
        if pretrained:
            return _from_pretrained(_released(architecture), **kwargs)
        return _create_model(architecture, **kwargs)

    entry.__name__ = entry.__qualname__ = architecture
    entry.__doc__ = (f"{_model_entry(architecture).description}\n\npretrained=False: random weights, keyword "
                     "arguments to hub.create_model; pretrained=True: the catalog's released weights.")
    return entry


globals().update({name: _entry_point(name) for name in _list_models()})
