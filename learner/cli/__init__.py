"""The command line: ``program`` (the parser and ``main``), one module per subcommand."""
