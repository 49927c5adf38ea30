"""The packaged suites (`evalkit.configs`): YAML files that `evalkit run <name>` finds by name."""
