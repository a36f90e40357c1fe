"""One module per subcommand; see learner.cli."""
