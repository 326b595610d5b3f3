"""One module per architecture family; every module here is imported, so its ``@register_model`` variants
register themselves. Nothing lists the families by hand.

Adding a family is one new module in this folder:

1. Build the network as a chain of units (:mod:`hub.units`: kinds, stages, layouts, residual units with an
   identity path), from the shared blocks in :mod:`hub.layers` where they fit.
2. Write one plain ``def`` per variant, ``fn(preset, num_classes, **kwargs) -> UnitModel``, decorated with
   ``@register_model``; mark one small CIFAR-sized variant ``example=True`` (the export and analysis checks
   build it) and give per-preset defaults with ``preset_args`` where a variant needs them.
3. A builder that uses ``img_size`` validates it; one whose layers do not depend on it rejects other values
   with :meth:`hub.config.Preset.check_fixed_size`.
4. A module owning a position embedding, relative-position table or learned token declares it in
   ``param_roles`` so that weight decay and landscapes treat it right.

The optimiser groups, landscapes, ONNX parity checks, the analysis report and the every-family tests then
pick the family up from the registry with no other edit. Modules whose names start with ``_`` are skipped.
"""

import importlib
import pkgutil

for _module in pkgutil.iter_modules(__path__):
    if not _module.name.startswith("_"):
        importlib.import_module(f"{__name__}.{_module.name}")
