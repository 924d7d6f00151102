"""Client-side tools: the `aiflow` command and its subcommands."""
