"""The paper's analyses: each module holds typed settings, a typed result and ``run(model, data, settings)``;
:mod:`training.analyze.registry` lists them for the command line and the report, and
:mod:`training.analyze.plots` draws them.

Every analysis works on any model with the unit introspection API (``unit_outputs``,
``unit_infos``, ``lesioned``; :class:`hub.UnitIntrospection`) with no per-family code: a registered
architecture, or any module with a description of its units (:mod:`hub.describe`).
"""
