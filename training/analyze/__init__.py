"""The paper's analyses: each module holds typed settings, a typed result and ``run(model, data, settings)``;
:mod:`training.analyze.registry` lists them for the command line and the report, and
:mod:`training.analyze.plots` draws them.

Every analysis works on any registered model through the unit introspection API (``forward_intermediates``,
``unit_infos``, ``lesioned``) with no per-family code.
"""
