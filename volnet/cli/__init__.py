"""The `volnet` command: argument parsing only; each subcommand is a module here with
`register(subparsers)`, calling the same Python API a user has."""
