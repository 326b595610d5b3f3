"""The paper's analyses, each a function plus a ``python -m training.analyze <analysis>`` subcommand.

Every analysis works on any registered model through the unit introspection API (``forward_features``,
``unit_infos``, ``lesioned``), writes a JSON file (every plotted number and the exact settings) and a PNG.
"""
