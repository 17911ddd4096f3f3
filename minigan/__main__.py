"""`python -m minigan ...` runs the `minigan` command."""

from minigan.cli import main

main()
